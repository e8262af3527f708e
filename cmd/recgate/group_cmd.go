package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
)

func newGroupCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "group", Short: "Add, change, remove and list groups (departments)"})
	cmd.AddCommand(newGroupAddCmd(a, true), newGroupAddCmd(a, false), newGroupRmCmd(a), newGroupListCmd(a))
	return cmd
}

func newGroupAddCmd(a *app, add bool) *cobra.Command {
	var profile, retention, announce, tenant string
	var w ruleWriter
	use, short := "set NAME", "Change a group"
	if add {
		use, short = "add NAME", "Add a group, optionally from a built-in profile"
	}
	cmd := &cobra.Command{
		Use:   use + " [--profile P] [--retention-days N] [--announce yes|no]",
		Short: short,
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := rules.ValidateGroupName(name); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			fl := cmd.Flags()
			if fl.Changed("profile") && profile != "" {
				if _, ok := rules.LookupProfile(profile); !ok {
					return rules.Errorf(rules.ENOTFOUND, "--profile: unknown profile %q (valid: %s)", profile, strings.Join(rules.ProfileNames(), ", "))
				}
			}
			ret, err := parseRetention(retention)
			if err != nil {
				return err
			}
			ann, err := parseTriState("--announce", announce)
			if err != nil {
				return err
			}
			return a.update(cmd, &w, func(rs *rules.RuleSet) error {
				groups, err := tenantGroups(rs, tenant)
				if err != nil {
					return err
				}
				g, exists := groups[name]
				switch {
				case add && exists:
					return rules.Errorf(rules.ECONFLICT, "group %s already exists%s (use group set)", name, inTenant(tenant))
				case !add && !exists:
					return rules.Errorf(rules.ENOTFOUND, "unknown group %q%s (%s)", name, inTenant(tenant), validList("groups", rs.GroupNames(tenant)))
				case add:
					g = &rules.Group{Name: name}
					groups[name] = g
				}
				if fl.Changed("profile") {
					g.Profile = profile
				}
				if fl.Changed("retention-days") {
					g.RetentionDays = ret
				}
				if fl.Changed("announce") {
					g.Announce = ann
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "a built-in profile to start from (see recgate profiles; \"\" for none)")
	cmd.Flags().StringVar(&retention, "retention-days", "", "keep recordings N days (\"inherit\" to keep forever)")
	cmd.Flags().StringVar(&announce, "announce", "", "play the recording notice: yes, no or inherit")
	tenantFlag(cmd, &tenant)
	w.register(cmd)
	return cmd
}

func newGroupRmCmd(a *app) *cobra.Command {
	var force bool
	var w ruleWriter
	var tenant string
	cmd := &cobra.Command{
		Use:   "rm NAME [--force]",
		Short: "Remove a group; --force also moves its stations to no group",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return a.update(cmd, &w, func(rs *rules.RuleSet) error {
				groups, err := tenantGroups(rs, tenant)
				if err != nil {
					return err
				}
				if _, ok := groups[name]; !ok {
					return rules.Errorf(rules.ENOTFOUND, "unknown group %q%s (%s)", name, inTenant(tenant), validList("groups", rs.GroupNames(tenant)))
				}
				var members []string
				for _, id := range rs.TenantStationIDs(tenant) {
					if rs.Stations[id].Group == name {
						members = append(members, id)
					}
				}
				if len(members) > 0 && !force {
					return rules.Errorf(rules.ECONFLICT, "group %s still has %d station(s) (%s); use --force to move them to no group",
						name, len(members), strings.Join(firstN(members, 10), ", "))
				}
				for _, id := range members {
					rs.Stations[id].Group = ""
				}
				delete(groups, name)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "move the group's stations to no group")
	tenantFlag(cmd, &tenant)
	w.register(cmd)
	return cmd
}

// groupJSON is a group in list --json.
type groupJSON struct {
	Name          string        `json:"name"`
	Profile       string        `json:"profile"`
	Announce      *bool         `json:"announce"`
	RetentionDays *int          `json:"retention_days"`
	Rules         rules.ModeSet `json:"rules"`     // the group's own overrides
	Effective     rules.ModeSet `json:"effective"` // overrides on top of the profile
	Stations      int           `json:"stations"`
}

func newGroupListCmd(a *app) *cobra.Command {
	var asJSON bool
	var tenant string
	cmd := &cobra.Command{
		Use:   "list [--tenant ID] [--json]",
		Short: "List groups with their profile, overrides and station count",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			groups, err := tenantGroups(rs, tenant)
			if err != nil {
				return err
			}
			count := map[string]int{}
			for _, id := range rs.TenantStationIDs(tenant) {
				count[rs.Stations[id].Group]++
			}
			out := make([]groupJSON, 0, len(groups))
			for _, name := range rs.GroupNames(tenant) {
				g := groups[name]
				eff := rules.ModeSet{}
				if p, ok := rules.LookupProfile(g.Profile); ok {
					eff = p.Modes
				}
				for d, m := range g.Modes {
					eff[d] = m
				}
				own := g.Modes
				if own == nil {
					own = rules.ModeSet{}
				}
				out = append(out, groupJSON{Name: name, Profile: g.Profile, Announce: g.Announce,
					RetentionDays: g.RetentionDays, Rules: own, Effective: eff, Stations: count[name]})
			}
			if asJSON {
				return printJSON(a.env.Stdout, out)
			}
			printGroups(a.env.Stdout, out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	tenantFlag(cmd, &tenant)
	return cmd
}

func printGroups(w io.Writer, list []groupJSON) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROFILE\t"+directionHeaders()+"\tANNOUNCE\tRETENTION\tSTATIONS")
	for _, g := range list {
		fmt.Fprintf(tw, "%s\t%s", orDash(g.Name), orDash(g.Profile))
		for _, d := range rules.AllDirections() {
			m := string(g.Effective[d])
			if m == "" {
				m = "-"
			}
			if _, own := g.Rules[d]; own {
				m += "*"
			}
			fmt.Fprintf(tw, "\t%s", m)
		}
		ret := "-"
		if g.RetentionDays != nil {
			ret = fmt.Sprintf("%dd", *g.RetentionDays)
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%d\n", triState(g.Announce), ret, g.Stations)
	}
	tw.Flush()
	if len(list) > 0 {
		fmt.Fprintln(w, "(* = the group's own override on top of its profile; - = not set, the default applies)")
	}
}

func newProfilesCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "profiles [--json]",
		Short: "List the built-in profiles and the mode each sets per direction",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := rules.Profiles()
			if asJSON {
				return printJSON(a.env.Stdout, ps)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\t"+directionHeaders()+"\tDESCRIPTION")
			for _, p := range ps {
				fmt.Fprint(tw, p.Name)
				for _, d := range rules.AllDirections() {
					fmt.Fprintf(tw, "\t%s", p.Modes[d])
				}
				fmt.Fprintf(tw, "\t%s\n", p.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
