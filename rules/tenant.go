package rules

import (
	"fmt"
	"sync"
	"time"
)

// DefaultTenant is the tenant of everything made before tenants existed and
// of every rules file that names none. It always exists.
const DefaultTenant = "default"

// DefaultTimeZone is a new tenant's time zone.
const DefaultTimeZone = "Europe/Warsaw"

// MaxTenantIDLength bounds tenant ids.
const MaxTenantIDLength = 63

// Tenant is one of the provider's customers: its groups, settings and
// defaults. Its stations are the stations whose Tenant is its ID.
type Tenant struct {
	ID       string // [a-z0-9][a-z0-9-]{0,62}, e.g. "acme"
	Name     string // display name, e.g. "ACME Sp. z o.o."
	TimeZone string // IANA name used wherever a person reads a time, e.g. "Europe/Warsaw"

	// Modes are the tenant's per-direction defaults, consulted after the
	// group and before the global defaults.
	Modes ModeSet
	// RetentionDays keeps the tenant's recordings this long when neither
	// station nor group says; nil keeps them forever.
	RetentionDays *int
	// AnnounceRequired announces every recorded call of the tenant,
	// whatever its stations and groups say.
	AnnounceRequired bool

	// Groups are the tenant's groups by name; names are unique within a
	// tenant only.
	Groups map[string]*Group
}

// NewTenant returns an empty tenant with the default time zone.
func NewTenant(id string) *Tenant {
	return &Tenant{ID: id, TimeZone: DefaultTimeZone, Groups: map[string]*Group{}}
}

// ValidateTenantID checks a tenant id: 1 to 63 characters, lower-case
// letters, digits and '-', not starting with '-'.
func ValidateTenantID(id string) error {
	if id == "" {
		return fmt.Errorf("invalid tenant id %q: empty", id)
	}
	if len(id) > MaxTenantIDLength {
		return fmt.Errorf("invalid tenant id %q: longer than %d characters", id, MaxTenantIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0
		if !ok {
			return fmt.Errorf("invalid tenant id %q: use lower-case letters, digits and '-' (not first)", id)
		}
	}
	return nil
}

// zones caches the time zone names time.LoadLocation accepted, so that
// validating a rule set with many tenants reads the zone database once per
// name.
var zones sync.Map

// ValidateTimeZone checks that tz is an IANA time zone name known to the
// system (or to the time/tzdata package linked into the binary).
func ValidateTimeZone(tz string) error {
	if tz == "" {
		return fmt.Errorf("time zone is empty (e.g. %s)", DefaultTimeZone)
	}
	if _, ok := zones.Load(tz); ok {
		return nil
	}
	if tz == "Local" {
		return fmt.Errorf("invalid time zone %q: name an IANA zone, e.g. %s", tz, DefaultTimeZone)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("invalid time zone %q: not an IANA zone name (e.g. %s, UTC)", tz, DefaultTimeZone)
	}
	zones.Store(tz, true)
	return nil
}

// Validate checks a tenant on its own and each of its groups.
func (t *Tenant) Validate() error {
	if err := ValidateTenantID(t.ID); err != nil {
		return err
	}
	if err := ValidateText("name", t.Name); err != nil {
		return fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	if err := ValidateTimeZone(t.TimeZone); err != nil {
		return fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	if err := validateRetention(t.RetentionDays); err != nil {
		return fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	if err := t.Modes.Validate(); err != nil {
		return fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	for _, name := range sortedKeys(t.Groups) {
		g := t.Groups[name]
		if g.Name != name {
			return t.errorf(fmt.Errorf("group %q is filed under %q", g.Name, name))
		}
		if err := g.Validate(); err != nil {
			return t.errorf(err)
		}
	}
	return nil
}

// errorf prefixes err with the tenant, unless it is the default tenant
// (whose messages read as they did before tenants).
func (t *Tenant) errorf(err error) error {
	if t.ID == DefaultTenant {
		return err
	}
	return fmt.Errorf("tenant %s: %w", t.ID, err)
}

// Location returns the tenant's time zone, for showing times to its
// people (the panel, the API's human-readable fields).
func (t *Tenant) Location() (*time.Location, error) {
	if err := ValidateTimeZone(t.TimeZone); err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	return time.LoadLocation(t.TimeZone)
}

// GroupNames returns the tenant's group names in sorted order.
func (t *Tenant) GroupNames() []string { return sortedKeys(t.Groups) }

// Clone returns a deep copy of t, its groups included.
func (t *Tenant) Clone() *Tenant {
	c := *t
	c.Modes = t.Modes.Clone()
	c.RetentionDays = cloneInt(t.RetentionDays)
	c.Groups = make(map[string]*Group, len(t.Groups))
	for k, g := range t.Groups {
		c.Groups[k] = g.Clone()
	}
	return &c
}

// Clone returns a deep copy of g.
func (g *Group) Clone() *Group {
	c := *g
	c.Modes = g.Modes.Clone()
	c.Announce = cloneBool(g.Announce)
	c.RetentionDays = cloneInt(g.RetentionDays)
	return &c
}

// Clone returns a deep copy of s.
func (s *Station) Clone() *Station {
	c := *s
	c.Modes = s.Modes.Clone()
	c.Announce = cloneBool(s.Announce)
	c.RetentionDays = cloneInt(s.RetentionDays)
	return &c
}

// TenantID returns the tenant s belongs to: its Tenant, or DefaultTenant
// when that is empty.
func (s *Station) TenantID() string {
	if s.Tenant == "" {
		return DefaultTenant
	}
	return s.Tenant
}
