package loadgen

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
)

// Directions a scenario can send; DirectionMix draws one of them uniformly
// for each session.
const (
	DirectionOutbound      = "outbound"
	DirectionInboundDirect = "inbound_direct"
	DirectionInboundQueue  = "inbound_queue"
	DirectionInternal      = "internal"
	DirectionMix           = "mix"
)

// allDirections returns the four directions DirectionMix draws from.
func allDirections() []string {
	return []string{DirectionOutbound, DirectionInboundDirect, DirectionInboundQueue, DirectionInternal}
}

// Station id distributions.
const (
	DistUniform = "uniform"
	DistZipf    = "zipf"
)

// FirstStation is the id of the first station in the population: stations
// are FirstStation .. FirstStation+Stations-1.
const FirstStation = 1000

// Scenario says what each session asks: the request path, the direction and
// which station's channel it runs on.
type Scenario struct {
	Path         string  // request path, e.g. "decide"
	Direction    string  // one of the four directions, or DirectionMix
	Stations     int     // population size
	Distribution string  // DistUniform or DistZipf
	ZipfS        float64 // zipf exponent (> 1); 1.1 when zero
	Seed         int64   // makes the station and direction draws repeatable
	// Act, when set, is sent as the act argument (decide?...&act=dialplan:
	// one command per decision, as the shipped examples ask).
	Act string
}

// DefaultScenario is decide, outbound, 100 stations drawn uniformly.
func DefaultScenario() Scenario {
	return Scenario{Path: "decide", Direction: DirectionOutbound, Stations: 100, Distribution: DistUniform, Seed: 1}
}

// Validate reports the first field that cannot be used.
func (s Scenario) Validate() error {
	if s.Path == "" || strings.ContainsAny(s.Path, "?/ \r\n") {
		return fmt.Errorf("scenario: path %q: want one word such as decide", s.Path)
	}
	switch s.Direction {
	case DirectionOutbound, DirectionInboundDirect, DirectionInboundQueue, DirectionInternal, DirectionMix:
	default:
		return fmt.Errorf("scenario: direction %q: want outbound, inbound_direct, inbound_queue, internal or mix", s.Direction)
	}
	if s.Stations < 1 || s.Stations > 10_000_000 {
		return fmt.Errorf("scenario: stations %d: want 1..10000000", s.Stations)
	}
	if strings.ContainsAny(s.Act, "&?/ \r\n") {
		return fmt.Errorf("scenario: act %q: want one word such as dialplan", s.Act)
	}
	switch s.Distribution {
	case DistUniform:
	case DistZipf:
		if s.ZipfS != 0 && s.ZipfS <= 1 {
			return fmt.Errorf("scenario: zipf exponent %g: want > 1", s.ZipfS)
		}
	default:
		return fmt.Errorf("scenario: distribution %q: want uniform or zipf", s.Distribution)
	}
	return nil
}

// call is what one session says about itself in its environment block.
type call struct {
	direction string
	station   string
	other     string // the dialled number or the caller, by direction
	uniqueID  string
	channel   string
	threadID  string
}

// caller draws the calls of one goroutine; it is not safe for concurrent use.
type caller struct {
	sc     Scenario
	rng    *rand.Rand
	zipf   *rand.Zipf
	prefix string // of every unique id: "<run>-<epoch>."
	base   uint64 // this stream's first sequence number
	seq    uint64
}

// newRunID returns a random tag for one run's unique ids, so that no run
// reuses the ids of an earlier one against the same server (a reused id
// would find the live state or the stored row of an earlier call).
func newRunID() string {
	return strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36), 36)
}

// newCaller returns a caller whose draws are repeatable for (sc.Seed,
// stream). Its unique ids have Asterisk's form "[systemname-]<epoch>.<n>"
// with the run (see newRunID) as the system name, so one run's calls are
// told from another's, and n counting from stream·10^10, so one
// goroutine's are told from another's.
func newCaller(sc Scenario, stream int, epoch int64, run string) *caller {
	rng := rand.New(rand.NewSource(sc.Seed*1_000_003 + int64(stream)))
	c := &caller{sc: sc, rng: rng, prefix: run + "-" + strconv.FormatInt(epoch, 10) + ".", base: uint64(stream) * 10_000_000_000}
	if sc.Distribution == DistZipf && sc.Stations > 1 {
		s := sc.ZipfS
		if s == 0 {
			s = 1.1
		}
		c.zipf = rand.NewZipf(rng, s, 1, uint64(sc.Stations-1))
	}
	return c
}

func (c *caller) station() int {
	if c.zipf != nil {
		return FirstStation + int(c.zipf.Uint64())
	}
	return FirstStation + c.rng.Intn(c.sc.Stations)
}

// next draws the next call.
func (c *caller) next() call {
	c.seq++
	dir := c.sc.Direction
	if dir == DirectionMix {
		dirs := allDirections()
		dir = dirs[c.rng.Intn(len(dirs))]
	}
	st := strconv.Itoa(c.station())
	k := call{
		direction: dir,
		station:   st,
		uniqueID:  c.prefix + strconv.FormatUint(c.base+c.seq, 10),
		channel:   fmt.Sprintf("PJSIP/%s-%08x", st, uint32(c.seq)^uint32(c.rng.Int31())),
		threadID:  strconv.FormatInt(139867250000000+c.rng.Int63n(10_000_000), 10),
	}
	switch dir {
	case DirectionOutbound:
		k.other = "0" + strconv.FormatInt(4930_1234_0000+c.rng.Int63n(10_000), 10)
	case DirectionInternal:
		k.other = strconv.Itoa(c.station())
	default:
		k.other = "+4930" + strconv.FormatInt(5550_0000+c.rng.Int63n(10_000), 10)
	}
	return k
}

// envBlock renders k as the environment block Asterisk 22 sends for
// AGI(agi://<target>/<path>?direction=…&linkedid=…) run from the
// dialplan-examples' [recgate-decide] Gosub on the station's own channel:
// every key, in Asterisk's order, then the empty line.
func envBlock(b *strings.Builder, target string, sc Scenario, k call) {
	script := sc.Path + "?direction=" + k.direction + "&linkedid=" + k.uniqueID
	switch k.direction {
	case DirectionInboundQueue:
		script += "&queue=sales"
	case DirectionInboundDirect:
		script += "&did=4930123456701"
	}
	if sc.Act != "" {
		script += "&act=" + sc.Act
	}
	writeEnv(b, target, script, "recgate-decide", "7", k)
}

// hangupEnvBlock renders the environment block of the hangup request the
// dialplan-examples' [recgate-hangup] handler sends when k's channel ends.
func hangupEnvBlock(b *strings.Builder, target string, k call) {
	writeEnv(b, target, "hangup", "recgate-hangup", "2", k)
}

func writeEnv(b *strings.Builder, target, script, context, priority string, k call) {
	callerID, callerName, dnid := k.station, k.station, k.other
	if k.direction == DirectionInboundDirect || k.direction == DirectionInboundQueue {
		// The station answered: the caller is the outside party and the
		// callee leg has no dialled number of its own.
		callerID, callerName, dnid = k.other, "unknown", "unknown"
	}
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	line("agi_network", "yes")
	line("agi_network_script", script)
	line("agi_request", "agi://"+target+"/"+script)
	line("agi_channel", k.channel)
	line("agi_language", "en")
	line("agi_type", "PJSIP")
	line("agi_uniqueid", k.uniqueID)
	line("agi_version", "22.10.1")
	line("agi_callerid", callerID)
	line("agi_calleridname", callerName)
	line("agi_callingpres", "0")
	line("agi_callingani2", "0")
	line("agi_callington", "0")
	line("agi_callingtns", "0")
	line("agi_dnid", dnid)
	line("agi_rdnis", "unknown")
	line("agi_context", context)
	line("agi_extension", "s")
	line("agi_priority", priority)
	line("agi_enhanced", "0.0")
	line("agi_accountcode", "")
	line("agi_threadid", k.threadID)
	b.WriteByte('\n')
}
