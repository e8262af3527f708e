package rules

// Profile is a named, built-in set of per-direction modes that a group can
// start from.
type Profile struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Modes       ModeSet `json:"modes"` // every direction is set
}

// builtinProfiles are the product's documented examples (SPEC 5.3).
var builtinProfiles = []Profile{
	{"sales", "sales: outgoing and queue calls recorded, direct calls on demand",
		ModeSet{Outbound: Auto, InboundDirect: OnDemand, InboundQueue: Auto, Internal: Off}},
	{"customer-service", "customer service: inbound recorded, outgoing on demand",
		ModeSet{Outbound: OnDemand, InboundDirect: Auto, InboundQueue: Auto, Internal: Off}},
	{"medical-registration", "medical registration: queue calls recorded, outgoing on demand, direct calls never",
		ModeSet{Outbound: OnDemand, InboundDirect: Off, InboundQueue: Auto, Internal: Off}},
	{"management", "management: never recorded",
		ModeSet{Outbound: Off, InboundDirect: Off, InboundQueue: Off, Internal: Off}},
	{"record-all", "record every external call",
		ModeSet{Outbound: Auto, InboundDirect: Auto, InboundQueue: Auto, Internal: Off}},
}

// Profiles returns the built-in profiles in documentation order. The
// returned values are copies; changing them changes nothing.
func Profiles() []Profile {
	out := make([]Profile, len(builtinProfiles))
	for i, p := range builtinProfiles {
		p.Modes = p.Modes.Clone()
		out[i] = p
	}
	return out
}

// ProfileNames returns the names of the built-in profiles.
func ProfileNames() []string {
	names := make([]string, len(builtinProfiles))
	for i, p := range builtinProfiles {
		names[i] = p.Name
	}
	return names
}

// LookupProfile returns the built-in profile called name.
func LookupProfile(name string) (Profile, bool) {
	for _, p := range builtinProfiles {
		if p.Name == name {
			p.Modes = p.Modes.Clone()
			return p, true
		}
	}
	return Profile{}, false
}

// profileMode is the allocation-free lookup used on the call path.
func profileMode(name string, d Direction) (Mode, bool) {
	for i := range builtinProfiles {
		if builtinProfiles[i].Name == name {
			m, ok := builtinProfiles[i].Modes[d]
			return m, ok
		}
	}
	return "", false
}
