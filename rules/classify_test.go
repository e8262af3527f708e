package rules_test

import (
	"testing"

	"github.com/recgate/recgate/rules"
)

func testClassifier() *rules.Classifier {
	return &rules.Classifier{
		OutboundContexts: []string{"from-internal"},
		InboundContexts:  []string{"from-trunk", "from-did"},
		QueueContexts:    []string{"queue-members"},
	}
}

func TestClassify(t *testing.T) {
	rs := rules.NewRuleSet()
	rs.Stations["1001"] = &rules.Station{ID: "1001"}
	rs.Stations["1002"] = &rules.Station{ID: "1002"}
	c := testClassifier()
	tests := []struct {
		name string
		ci   rules.CallInfo
		rs   *rules.RuleSet
		want rules.Direction
		ok   bool
	}{
		// 1. queue argument, marker or queue context, before anything else
		{"queue argument", rules.CallInfo{Queue: "sales", Context: "from-internal", Extension: "1002"}, rs, rules.InboundQueue, true},
		{"queue argument in inbound context", rules.CallInfo{Queue: "sales", Context: "from-trunk"}, rs, rules.InboundQueue, true},
		{"ivr marker", rules.CallInfo{Marker: "ivr", Context: "from-trunk"}, rs, rules.InboundQueue, true},
		{"ivr marker in outbound context", rules.CallInfo{Marker: "ivr", Context: "from-internal", Extension: "1002"}, rs, rules.InboundQueue, true},
		{"queue context", rules.CallInfo{Context: "queue-members", Extension: "s"}, rs, rules.InboundQueue, true},
		// 2. inbound context
		{"inbound context", rules.CallInfo{Context: "from-trunk", Extension: "1001"}, rs, rules.InboundDirect, true},
		{"second inbound context", rules.CallInfo{Context: "from-did", Extension: "+48221234567"}, rs, rules.InboundDirect, true},
		// 3. outbound context: outbound, or internal to a known station
		{"outbound context", rules.CallInfo{Context: "from-internal", Extension: "0048221234567"}, rs, rules.Outbound, true},
		{"internal call", rules.CallInfo{Context: "from-internal", Extension: "1002"}, rs, rules.Internal, true},
		{"unknown extension is outbound", rules.CallInfo{Context: "from-internal", Extension: "1003"}, rs, rules.Outbound, true},
		{"no rules: outbound", rules.CallInfo{Context: "from-internal", Extension: "1002"}, nil, rules.Outbound, true},
		// 4. unclassified
		{"unknown context", rules.CallInfo{Context: "default", Extension: "1001"}, rs, "", false},
		{"empty call", rules.CallInfo{}, rs, "", false},
		{"station extension outside outbound context", rules.CallInfo{Context: "macro-dial", Extension: "1002"}, rs, "", false},
		{"context names are exact", rules.CallInfo{Context: "From-Internal", Extension: "1002"}, rs, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Classify(tt.ci, tt.rs)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Classify(%+v) = %q, %v; want %q, %v", tt.ci, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClassifyEmptyClassifier(t *testing.T) {
	var c rules.Classifier
	if d, ok := c.Classify(rules.CallInfo{Context: "from-internal", Extension: "1001"}, nil); ok {
		t.Errorf("a classifier without contexts classified a call as %s", d)
	}
	if d, ok := c.Classify(rules.CallInfo{Queue: "q"}, nil); !ok || d != rules.InboundQueue {
		t.Errorf("queue argument = %s, %v; want inbound_queue", d, ok)
	}
}

func TestNeedsMarker(t *testing.T) {
	c := testClassifier()
	tests := []struct {
		name string
		ci   rules.CallInfo
		want bool
	}{
		{"queue argument answers", rules.CallInfo{Queue: "sales", Context: "from-trunk"}, false},
		{"queue context answers", rules.CallInfo{Context: "queue-members"}, false},
		{"inbound context: the marker comes first", rules.CallInfo{Context: "from-trunk"}, true},
		{"outbound context: the marker comes first", rules.CallInfo{Context: "from-internal"}, true},
		{"unknown context", rules.CallInfo{Context: "default"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.NeedsMarker(tt.ci); got != tt.want {
				t.Errorf("NeedsMarker(%+v) = %v, want %v", tt.ci, got, tt.want)
			}
		})
	}
}

func TestStationFromChannel(t *testing.T) {
	tests := []struct {
		channel string
		want    string
	}{
		{"PJSIP/1001-0000002a", "1001"},
		{"PJSIP/acme-1001-0000002a", "acme-1001"},
		{"SIP/1001-0000002a", "1001"},
		{"IAX2/1001-1234", "1001"},
		{"Local/1001@from-internal-00000aa4;2", "1001"},
		{"Local/1001@from-internal-00000aa4;1", "1001"},
		{"Local/tone@test-0000000e;1", "tone"},
		{"PJSIP/1001", "1001"}, // no sequence suffix
		{"DAHDI/1-1", ""},
		{"", ""},
		{"PJSIP/", ""},
		{"PJSIP", ""},
		{"Local/", ""},
		{"Local/1001", ""}, // no context
		{"Local/@ctx-1;1", ""},
		{"pjsip/1001-0000002a", ""}, // technology names are case-sensitive
		{"Console/dsp", ""},
		{"garbage", ""},
		{"\x00\xff/\n", ""},
		{"PJSIP/1001@host-0000002a", ""},
		{"PJSIP/1001/sip:x-1", ""},
	}
	for _, tt := range tests {
		if got := rules.StationFromChannel(tt.channel); got != tt.want {
			t.Errorf("StationFromChannel(%q) = %q, want %q", tt.channel, got, tt.want)
		}
	}
}

// TestStationFromChannelHostile checks that what comes out of a channel
// name is always a valid station id or nothing: channel names carry
// endpoint and Local extension text that ends up in variables, logs and
// file names.
func TestStationFromChannelHostile(t *testing.T) {
	for _, channel := range []string{
		"PJSIP/a$b-0000002a",
		"PJSIP/a b-0000002a",
		"PJSIP/x\ny-0000002a",
		"PJSIP/-0000002a",
		"Local/../x@ctx-00000001;2",
		"Local/a,b@ctx-00000001;2",
		"Local/${SHELL}@ctx-00000001;2",
	} {
		id := rules.StationFromChannel(channel)
		if id != "" && rules.ValidateStationID(id) != nil {
			t.Errorf("StationFromChannel(%q) = %q, not a valid station id", channel, id)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	rs := rules.NewRuleSet()
	for _, id := range []string{"1001", "1002", "1003"} {
		rs.Stations[id] = &rules.Station{ID: id}
	}
	c := &rules.Classifier{
		OutboundContexts: []string{"from-internal", "from-internal-custom"},
		InboundContexts:  []string{"from-trunk", "from-pstn", "from-did"},
		QueueContexts:    []string{"queue-members"},
	}
	cases := map[string]rules.CallInfo{
		"queue":    {Queue: "sales"},
		"inbound":  {Context: "from-did", Extension: "+48221234567"},
		"internal": {Context: "from-internal", Extension: "1002"},
		"none":     {Context: "macro-dial", Extension: "s"},
	}
	for name, ci := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c.NeedsMarker(ci) && ci.Queue != "" {
					b.Fatal("marker needed with a queue argument")
				}
				c.Classify(ci, rs)
			}
		})
	}
	b.Run("station-from-channel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rules.StationFromChannel("PJSIP/acme-1001-0000002a") != "acme-1001" {
				b.Fatal("wrong station")
			}
		}
	})
}
