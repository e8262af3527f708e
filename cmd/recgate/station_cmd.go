package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// stationFlags are the optional attributes of station add/set.
type stationFlags struct {
	name, kind, group, announce, retention string
	tenant                                 string
}

func (f *stationFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", "", "a human label, e.g. \"Anna (sales desk)\"")
	cmd.Flags().StringVar(&f.kind, "kind", "", "sip_phone, mobile_app, softphone or gateway (add: sip_phone when not given)")
	cmd.Flags().StringVar(&f.group, "group", "", "the group it inherits from (\"\" for none)")
	cmd.Flags().StringVar(&f.announce, "announce", "", "play the recording notice: yes, no or inherit")
	cmd.Flags().StringVar(&f.retention, "retention-days", "", "keep its recordings N days (\"inherit\" for the group's)")
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant it belongs to (add: "+rules.DefaultTenant+"; set: moves it, with --group)")
}

// apply sets the flags the user gave on st and checks them against rs.
func (f *stationFlags) apply(cmd *cobra.Command, rs *rules.RuleSet, st *rules.Station) error {
	fl := cmd.Flags()
	if fl.Changed("tenant") {
		if err := setStationTenant(rs, st, f.tenant, fl.Changed("group")); err != nil {
			return err
		}
	}
	if fl.Changed("name") {
		st.Name = f.name
	}
	if fl.Changed("kind") {
		k, err := rules.ParseKind(f.kind)
		if err != nil {
			return rules.Errorf(rules.EINVALID, "--kind: %v", err)
		}
		st.Kind = k
	}
	if fl.Changed("group") {
		if f.group != "" {
			if rs.Group(st.TenantID(), f.group) == nil {
				return rules.Errorf(rules.ENOTFOUND, "--group: unknown group %q%s (%s)", f.group, inTenant(st.TenantID()),
					validList("groups", rs.GroupNames(st.TenantID())))
			}
		}
		st.Group = f.group
	}
	if fl.Changed("announce") {
		b, err := parseTriState("--announce", f.announce)
		if err != nil {
			return err
		}
		st.Announce = b
	}
	if fl.Changed("retention-days") {
		n, err := parseRetention(f.retention)
		if err != nil {
			return err
		}
		st.RetentionDays = n
	}
	return nil
}

func newStationCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "station", Short: "Add, change, remove and list stations (phones)"})
	cmd.AddCommand(newStationAddCmd(a, true), newStationAddCmd(a, false), newStationRmCmd(a), newStationListCmd(a))
	return cmd
}

func newStationAddCmd(a *app, add bool) *cobra.Command {
	var f stationFlags
	var w ruleWriter
	use, short := "set ID", "Change a station"
	if add {
		use, short = "add ID", "Add a station"
	}
	cmd := &cobra.Command{
		Use:   use + " [--name N] [--kind K] [--group G] [--announce yes|no]",
		Short: short,
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := rules.ValidateStationID(id); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			return a.update(cmd, &w, func(rs *rules.RuleSet) error {
				st, exists := rs.Stations[id]
				switch {
				case add && exists:
					return rules.Errorf(rules.ECONFLICT, "station %s already exists (use station set)", id)
				case !add && !exists:
					return rules.Errorf(rules.ENOTFOUND, "unknown station %q (add it with: recgate station add %s)", id, id)
				case add:
					st = &rules.Station{ID: id, Tenant: rules.DefaultTenant, Kind: rules.SIPPhone}
					rs.Stations[id] = st
				}
				return f.apply(cmd, rs, st)
			})
		},
	}
	f.register(cmd)
	w.register(cmd)
	return cmd
}

func newStationRmCmd(a *app) *cobra.Command {
	var w ruleWriter
	cmd := &cobra.Command{
		Use:   "rm ID",
		Short: "Remove a station and its own rules (its recordings' metadata stays)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return a.update(cmd, &w, func(rs *rules.RuleSet) error {
				if _, ok := rs.Stations[id]; !ok {
					return rules.Errorf(rules.ENOTFOUND, "unknown station %q", id)
				}
				delete(rs.Stations, id)
				return nil
			})
		},
	}
	w.register(cmd)
	return cmd
}

// stationJSON is a station in list --json.
type stationJSON struct {
	ID            string        `json:"id"`
	Tenant        string        `json:"tenant"`
	Name          string        `json:"name"`
	Kind          rules.Kind    `json:"kind"`
	Group         string        `json:"group"`
	Announce      *bool         `json:"announce"`
	RetentionDays *int          `json:"retention_days"`
	Rules         rules.ModeSet `json:"rules"`     // the station's own overrides
	Effective     rules.ModeSet `json:"effective"` // what each direction resolves to now
}

func newStationListCmd(a *app) *cobra.Command {
	var asJSON bool
	var tenant string
	cmd := &cobra.Command{
		Use:   "list [--tenant ID] [--json]",
		Short: "List stations with the mode each direction resolves to now",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			ids, err := stationIDsOf(rs, tenant)
			if err != nil {
				return err
			}
			out := make([]stationJSON, 0, len(ids))
			for _, id := range ids {
				st := rs.Stations[id]
				eff := rules.ModeSet{}
				for _, d := range rules.AllDirections() {
					eff[d] = rs.Resolve(id, d).Mode
				}
				own := st.Modes
				if own == nil {
					own = rules.ModeSet{}
				}
				out = append(out, stationJSON{ID: id, Tenant: st.TenantID(), Name: st.Name, Kind: st.Kind, Group: st.Group,
					Announce: st.Announce, RetentionDays: st.RetentionDays, Rules: own, Effective: eff})
			}
			if asJSON {
				return printJSON(a.env.Stdout, out)
			}
			printStations(a.env.Stdout, out, len(rs.Tenants) > 1 && tenant == "")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's stations")
	return cmd
}

// printStations prints the station table; withTenant adds a TENANT
// column (only when several tenants are listed, so a deployment without
// tenants sees the table it always did).
func printStations(w io.Writer, list []stationJSON, withTenant bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withTenant {
		fmt.Fprint(tw, "TENANT\t")
	}
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tGROUP\t"+directionHeaders()+"\tANNOUNCE")
	for _, s := range list {
		if withTenant {
			fmt.Fprintf(tw, "%s\t", orDash(s.Tenant))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", orDash(s.ID), orDash(s.Name), orDash(string(s.Kind)), orDash(s.Group))
		for _, d := range rules.AllDirections() {
			m := string(s.Effective[d])
			if _, own := s.Rules[d]; own {
				m += "*"
			}
			fmt.Fprintf(tw, "\t%s", m)
		}
		fmt.Fprintf(tw, "\t%s\n", triState(s.Announce))
	}
	tw.Flush()
	if len(list) > 0 {
		fmt.Fprintln(w, "(* = the station's own rule; other modes are inherited)")
	}
}

// ruleWriter holds the flags every verb that changes the rules takes.
type ruleWriter struct {
	actor    string
	override bool // --override-rules-file
}

func (w *ruleWriter) register(cmd *cobra.Command) {
	actorFlag(cmd, &w.actor)
	cmd.Flags().BoolVar(&w.override, overrideFlag, false,
		"change the database although rules_file manages the rules (undone when the file is next applied)")
}

// overrideFlag lets a writing verb change rules that rules_file manages.
const overrideFlag = "override-rules-file"

// openWriter opens the store for a verb that changes the rules: it refuses
// when rules_file manages them (rules.RulesFileManaged) unless w.override,
// and checks the actor.
func (a *app) openWriter(cmd *cobra.Command, w *ruleWriter) (*store.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if err := rules.ValidateText("--actor", w.actor); err != nil {
		return nil, err
	}
	if err := rules.RulesFileManaged(cfg.RulesFile); err != nil {
		if !w.override {
			return nil, rules.Errorf(rules.ECONFLICT, "%v (or pass --%s to change the database until then)", err, overrideFlag)
		}
		fmt.Fprintf(a.env.Stderr, "recgate: warning: rules_file %s manages the rules; this change lasts until the file is next applied\n", cfg.RulesFile)
	}
	return a.openStore(cmd)
}

// update runs fn on the current rules in one audited transaction and
// prints what changed.
func (a *app) update(cmd *cobra.Command, w *ruleWriter, fn func(rs *rules.RuleSet) error) error {
	st, err := a.openWriter(cmd, w)
	if err != nil {
		return err
	}
	defer st.Close()
	changes, err := st.UpdateRules(cmd.Context(), w.actor, fn)
	if err != nil {
		return err
	}
	printChanges(a.env.Stdout, changes, false)
	return nil
}

// loadRules reads the current rules from the store.
func (a *app) loadRules(cmd *cobra.Command) (*rules.RuleSet, error) {
	st, err := a.openStore(cmd)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.LoadRules(cmd.Context())
}

func actorFlag(cmd *cobra.Command, actor *string) {
	cmd.Flags().StringVar(actor, "actor", defaultActor(), "who makes the change (audit log)")
}

func parseTriState(flag, s string) (*bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		b := true
		return &b, nil
	case "no", "false", "off":
		b := false
		return &b, nil
	case "inherit", "":
		return nil, nil
	}
	return nil, rules.Errorf(rules.EINVALID, "%s %q: use yes, no or inherit", flag, s)
}

func parseRetention(s string) (*int, error) {
	if s == "inherit" || s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, rules.Errorf(rules.EINVALID, "--retention-days %q: a number of days (0 or more) or inherit", s)
	}
	return &n, nil
}

func triState(b *bool) string {
	if b == nil {
		return "-"
	}
	return yesNo(*b)
}

// directionHeaders is the tab-separated header of one column per direction.
func directionHeaders() string {
	return strings.ToUpper(strings.Join(directionNames(), "\t"))
}

func validList(what string, names []string) string {
	if len(names) == 0 {
		return "there are no " + what
	}
	return "valid: " + strings.Join(names, ", ")
}
