package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	_ "time/tzdata" // tenants' IANA time zones work on hosts without a zoneinfo database

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

func newTenantCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{
		Use:   "tenant",
		Short: "Add, change, remove and list tenants (the provider's customers)",
		Long: "A tenant owns stations and groups; its per-direction defaults decide after the group\n" +
			"and before the global default (set them with: recgate rule set tenant:ID DIRECTION MODE).",
	})
	cmd.AddCommand(newTenantAddCmd(a, true), newTenantAddCmd(a, false), newTenantRmCmd(a), newTenantListCmd(a))
	return cmd
}

// tenantFlags are the settings of tenant add/set.
type tenantFlags struct {
	name, timezone, retention, required string
}

func (f *tenantFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", "", "display name, e.g. \"ACME Sp. z o.o.\"")
	cmd.Flags().StringVar(&f.timezone, "timezone", "", "IANA time zone for the times people read (add: "+rules.DefaultTimeZone+")")
	cmd.Flags().StringVar(&f.retention, "retention-days", "", "keep the tenant's recordings N days unless a station or group says (\"inherit\": forever)")
	cmd.Flags().StringVar(&f.required, "announce-required", "", "yes: every recorded call of the tenant is announced; no: stations and groups decide")
}

// apply sets the flags the user gave on t.
func (f *tenantFlags) apply(cmd *cobra.Command, t *rules.Tenant) error {
	fl := cmd.Flags()
	if fl.Changed("name") {
		t.Name = f.name
	}
	if fl.Changed("timezone") {
		if err := rules.ValidateTimeZone(f.timezone); err != nil {
			return rules.Errorf(rules.EINVALID, "--timezone: %v", err)
		}
		t.TimeZone = f.timezone
	}
	if fl.Changed("retention-days") {
		n, err := parseRetention(f.retention)
		if err != nil {
			return err
		}
		t.RetentionDays = n
	}
	if fl.Changed("announce-required") {
		b, err := parseTriState("--announce-required", f.required)
		if err != nil || b == nil {
			return rules.Errorf(rules.EINVALID, "--announce-required %q: use yes or no", f.required)
		}
		t.AnnounceRequired = *b
	}
	return nil
}

func newTenantAddCmd(a *app, add bool) *cobra.Command {
	var f tenantFlags
	var w ruleWriter
	use, short := "set ID", "Change a tenant's settings"
	if add {
		use, short = "add ID", "Add a tenant"
	}
	cmd := &cobra.Command{
		Use:   use + " [--name N] [--timezone TZ] [--retention-days N] [--announce-required yes|no]",
		Short: short,
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := rules.ValidateTenantID(id); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			st, err := a.openWriter(cmd, &w)
			if err != nil {
				return err
			}
			defer st.Close()
			var changes []store.Change
			if add {
				t := rules.NewTenant(id)
				if err := f.apply(cmd, t); err != nil {
					return err
				}
				changes, err = st.CreateTenant(cmd.Context(), w.actor, t)
			} else {
				changes, err = st.UpdateTenant(cmd.Context(), w.actor, id, func(t *rules.Tenant) error { return f.apply(cmd, t) })
			}
			if err != nil {
				return err
			}
			printChanges(a.env.Stdout, changes, false)
			return nil
		},
	}
	f.register(cmd)
	w.register(cmd)
	return cmd
}

func newTenantRmCmd(a *app) *cobra.Command {
	var force bool
	var w ruleWriter
	cmd := &cobra.Command{
		Use:   "rm ID [--force]",
		Short: "Remove a tenant; --force also removes its stations and groups",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openWriter(cmd, &w)
			if err != nil {
				return err
			}
			defer st.Close()
			changes, err := st.DeleteTenant(cmd.Context(), w.actor, args[0], force)
			if err != nil {
				return err
			}
			printChanges(a.env.Stdout, changes, false)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also remove the tenant's stations and groups (their recordings' metadata stays)")
	w.register(cmd)
	return cmd
}

// tenantJSON is a tenant in list --json.
type tenantJSON struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	TimeZone         string        `json:"timezone"`
	RetentionDays    *int          `json:"retention_days"`
	AnnounceRequired bool          `json:"announce_required"`
	Defaults         rules.ModeSet `json:"defaults"` // the tenant's own per-direction defaults
	Groups           int           `json:"groups"`
	Stations         int           `json:"stations"`
}

func newTenantListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List tenants with their settings, defaults and sizes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			stations := map[string]int{}
			for _, s := range rs.Stations {
				stations[s.TenantID()]++
			}
			out := make([]tenantJSON, 0, len(rs.Tenants))
			for _, id := range rs.TenantIDs() {
				t := rs.Tenants[id]
				defaults := t.Modes
				if defaults == nil {
					defaults = rules.ModeSet{}
				}
				out = append(out, tenantJSON{ID: id, Name: t.Name, TimeZone: t.TimeZone, RetentionDays: t.RetentionDays,
					AnnounceRequired: t.AnnounceRequired, Defaults: defaults, Groups: len(t.Groups), Stations: stations[id]})
			}
			if asJSON {
				return printJSON(a.env.Stdout, out)
			}
			printTenants(a.env.Stdout, out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printTenants(w io.Writer, list []tenantJSON) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTIMEZONE\t"+directionHeaders()+"\tRETENTION\tANNOUNCE_REQUIRED\tGROUPS\tSTATIONS")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s", t.ID, orDash(t.Name), t.TimeZone)
		for _, d := range rules.AllDirections() {
			fmt.Fprintf(tw, "\t%s", orDash(string(t.Defaults[d])))
		}
		ret := "-"
		if t.RetentionDays != nil {
			ret = strconv.Itoa(*t.RetentionDays) + "d"
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%d\t%d\n", ret, yesNo(t.AnnounceRequired), t.Groups, t.Stations)
	}
	tw.Flush()
	if len(list) > 0 {
		fmt.Fprintln(w, "(directions: the tenant's own defaults; - = not set, the global default applies)")
	}
}

// tenantFlag adds --tenant, naming the tenant whose groups a command works
// on (default: the default tenant).
func tenantFlag(cmd *cobra.Command, tenant *string) {
	cmd.Flags().StringVar(tenant, "tenant", rules.DefaultTenant, "the tenant whose group this is")
}

// lookupTenant returns tenant id of rs, or a not-found error listing the
// tenants.
func lookupTenant(rs *rules.RuleSet, id string) (*rules.Tenant, error) {
	if t := rs.Tenants[id]; t != nil {
		return t, nil
	}
	if err := rules.ValidateTenantID(id); err != nil {
		return nil, rules.Errorf(rules.EINVALID, "%v", err)
	}
	return nil, rules.Errorf(rules.ENOTFOUND, "unknown tenant %q (valid: %s; add it with: recgate tenant add %s)",
		id, strings.Join(rs.TenantIDs(), ", "), id)
}

// tenantGroups returns tenant's groups (the map itself, to add to).
func tenantGroups(rs *rules.RuleSet, tenant string) (map[string]*rules.Group, error) {
	t, err := lookupTenant(rs, tenant)
	if err != nil {
		return nil, fmt.Errorf("--tenant: %w", err)
	}
	return t.Groups, nil
}

// inTenant is " in tenant ID" for messages, "" for the default tenant (and
// for no tenant).
func inTenant(tenant string) string {
	if tenant == rules.DefaultTenant || tenant == "" {
		return ""
	}
	return " in tenant " + tenant
}

// setStationTenant moves st to tenant. A station in a group moves only
// with --group: a group of the same name in the new tenant is another
// group.
func setStationTenant(rs *rules.RuleSet, st *rules.Station, tenant string, groupGiven bool) error {
	if _, err := lookupTenant(rs, tenant); err != nil {
		return fmt.Errorf("--tenant: %w", err)
	}
	if st.Group != "" && !groupGiven && st.TenantID() != tenant {
		return rules.Errorf(rules.EINVALID, "station %s's group %s is tenant %s's: give --group (a group of tenant %s, or \"\" for none)",
			st.ID, st.Group, st.TenantID(), tenant)
	}
	st.Tenant = tenant
	return nil
}

// stationIDsOf returns the ids of tenant's stations, of every station when
// tenant is empty.
func stationIDsOf(rs *rules.RuleSet, tenant string) ([]string, error) {
	if tenant == "" {
		return rs.StationIDs(), nil
	}
	if _, err := lookupTenant(rs, tenant); err != nil {
		return nil, fmt.Errorf("--tenant: %w", err)
	}
	return rs.TenantStationIDs(tenant), nil
}
