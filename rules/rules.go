// Package rules is recgate's domain: stations, groups, directions, recording
// modes, built-in profiles, rule resolution and call classification.
//
// It is pure: standard library only, no I/O, no SQL, no network. Every other
// package of recgate imports it; it imports none of them.
package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Mode is a recording mode: what happens to a call.
type Mode string

// The recording modes.
const (
	Off      Mode = "off"      // do not record
	Auto     Mode = "auto"     // record the whole call
	OnDemand Mode = "ondemand" // record from the *2 press to the end
)

// Modes lists every valid mode in display order.
var allModes = []Mode{Off, Auto, OnDemand}

// AllModes returns every valid mode in display order.
func AllModes() []Mode { return append([]Mode(nil), allModes...) }

// ParseMode returns the mode named s, or an error listing the valid ones.
func ParseMode(s string) (Mode, error) {
	for _, m := range allModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("invalid mode %q (valid: %s)", s, joinStrings(allModes))
}

// Direction is the direction of a call as seen from the station.
type Direction string

// The call directions.
const (
	Outbound      Direction = "outbound"       // the employee calls out
	InboundDirect Direction = "inbound_direct" // a caller dialled the station's number
	InboundQueue  Direction = "inbound_queue"  // the caller came through the IVR or a queue
	Internal      Direction = "internal"       // station to station
)

var allDirections = []Direction{Outbound, InboundDirect, InboundQueue, Internal}

// AllDirections returns every valid direction in display order.
func AllDirections() []Direction { return append([]Direction(nil), allDirections...) }

// ParseDirection returns the direction named s, or an error listing the valid ones.
func ParseDirection(s string) (Direction, error) {
	for _, d := range allDirections {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("invalid direction %q (valid: %s)", s, joinStrings(allDirections))
}

// Kind is the kind of device behind a station.
type Kind string

// The station kinds.
const (
	SIPPhone  Kind = "sip_phone"
	MobileApp Kind = "mobile_app"
	Softphone Kind = "softphone"
	Gateway   Kind = "gateway"
)

var allKinds = []Kind{SIPPhone, MobileApp, Softphone, Gateway}

// AllKinds returns every valid station kind.
func AllKinds() []Kind { return append([]Kind(nil), allKinds...) }

// ParseKind returns the kind named s, or an error listing the valid ones.
func ParseKind(s string) (Kind, error) {
	for _, k := range allKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("invalid kind %q (valid: %s)", s, joinStrings(allKinds))
}

// ModeSet holds per-direction modes. A direction that is absent is not set
// at this level, so resolution falls through to the next one.
type ModeSet map[Direction]Mode

// Clone returns an independent copy of m (nil stays nil).
func (m ModeSet) Clone() ModeSet {
	if m == nil {
		return nil
	}
	c := make(ModeSet, len(m))
	for d, mode := range m {
		c[d] = mode
	}
	return c
}

// Validate checks that every direction and mode in m is valid.
func (m ModeSet) Validate() error {
	for _, d := range sortedDirections(m) {
		if _, err := ParseDirection(string(d)); err != nil {
			return err
		}
		if _, err := ParseMode(string(m[d])); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
	}
	return nil
}

// Station is one phone account: a PJSIP endpoint or SIP account.
type Station struct {
	ID            string  // the endpoint name, e.g. "1001"; unique across tenants
	Tenant        string  // the tenant it belongs to; empty means DefaultTenant
	Name          string  // a human label, e.g. "Anna (sales desk)"
	Kind          Kind    // sip_phone, mobile_app, softphone or gateway
	Group         string  // the group of its tenant it inherits from; empty for none
	Announce      *bool   // play the recording notice; nil inherits the group's
	RetentionDays *int    // keep recordings this long; nil inherits the group's
	Modes         ModeSet // the station's own per-direction overrides
}

// Group is a department whose rules its stations inherit.
type Group struct {
	Name          string  // e.g. "sales"
	Profile       string  // an optional built-in profile the group starts from
	Announce      *bool   // play the recording notice; nil inherits the default
	RetentionDays *int    // keep recordings this long; nil keeps them forever
	Modes         ModeSet // the group's own overrides on top of its profile
}

// Defaults are the global rules that apply when neither station nor group
// decides.
type Defaults struct {
	Modes    ModeSet
	Announce bool
}

// MaxIDLength bounds station ids and group names.
const MaxIDLength = 64

// ValidateStationID checks a station id: 1 to 64 characters of
// [A-Za-z0-9._+@-], not "." or "..", so it is safe in file names,
// channel variables and AGI commands.
func ValidateStationID(id string) error {
	if err := validateName(id); err != nil {
		return fmt.Errorf("invalid station id %q: %w", id, err)
	}
	return nil
}

// ValidateGroupName checks a group name with the same rules as station ids.
func ValidateGroupName(name string) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("invalid group name %q: %w", name, err)
	}
	return nil
}

func validateName(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > MaxIDLength {
		return fmt.Errorf("longer than %d characters", MaxIDLength)
	}
	if s == "." || s == ".." || strings.Contains(s, "..") {
		return fmt.Errorf(`must not contain ".."`)
	}
	for _, r := range s {
		if r >= 0x80 || !isNameByte(byte(r)) {
			return fmt.Errorf("character %q not allowed (use letters, digits and . _ + @ -)", r)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '+' || c == '-' || c == '@'
}

// Validate checks a station on its own (not whether its group exists).
func (s *Station) Validate() error {
	if err := ValidateStationID(s.ID); err != nil {
		return err
	}
	if err := ValidateText("name", s.Name); err != nil {
		return fmt.Errorf("station %s: %w", s.ID, err)
	}
	if s.Tenant != "" {
		if err := ValidateTenantID(s.Tenant); err != nil {
			return fmt.Errorf("station %s: %w", s.ID, err)
		}
	}
	if s.Kind != "" {
		if _, err := ParseKind(string(s.Kind)); err != nil {
			return fmt.Errorf("station %s: %w", s.ID, err)
		}
	}
	if s.Group != "" {
		if err := ValidateGroupName(s.Group); err != nil {
			return fmt.Errorf("station %s: %w", s.ID, err)
		}
	}
	if err := validateRetention(s.RetentionDays); err != nil {
		return fmt.Errorf("station %s: %w", s.ID, err)
	}
	if err := s.Modes.Validate(); err != nil {
		return fmt.Errorf("station %s: %w", s.ID, err)
	}
	return nil
}

// Validate checks a group on its own, including that its profile exists.
func (g *Group) Validate() error {
	if err := ValidateGroupName(g.Name); err != nil {
		return err
	}
	if g.Profile != "" {
		if _, ok := LookupProfile(g.Profile); !ok {
			return fmt.Errorf("group %s: unknown profile %q (valid: %s)", g.Name, g.Profile, strings.Join(ProfileNames(), ", "))
		}
	}
	if err := validateRetention(g.RetentionDays); err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	if err := g.Modes.Validate(); err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	return nil
}

// MaxRetentionDays bounds retention_days (100 years), so age arithmetic
// cannot overflow.
const MaxRetentionDays = 36500

func validateRetention(days *int) error {
	if days != nil && (*days < 0 || *days > MaxRetentionDays) {
		return fmt.Errorf("retention_days must be between 0 and %d, got %d", MaxRetentionDays, *days)
	}
	return nil
}

// Names returns the values of a string type as plain strings, in order:
// Names(AllModes()) for a "valid: ..." list in a message.
func Names[T ~string](vs []T) []string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return s
}

func joinStrings[T ~string](vs []T) string { return strings.Join(Names(vs), ", ") }

func sortedDirections(m ModeSet) []Direction {
	ds := make([]Direction, 0, len(m))
	for d := range m {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}
