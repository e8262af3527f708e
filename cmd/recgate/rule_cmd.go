package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
)

func newRuleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Set or unset a per-direction mode on a station, a group or the default",
		Long: "TARGET is a station id, group:NAME (of --tenant), tenant:ID (the tenant's own default), or default.\n" +
			"DIRECTION is one of " + strings.Join(directionNames(), ", ") + ".\n" +
			"MODE is off, auto or ondemand.",
	}
	cmd.AddCommand(newRuleSetCmd(a, true), newRuleSetCmd(a, false))
	return requireSubcommand(cmd)
}

func newRuleSetCmd(a *app, set bool) *cobra.Command {
	var w ruleWriter
	var tenant string
	use, n, names := "unset TARGET DIRECTION", 2, "<STATION|group:NAME|tenant:ID|default> DIRECTION"
	short := "Remove a mode so the level inherits it again"
	if set {
		use, n, names = "set TARGET DIRECTION MODE", 3, "<STATION|group:NAME|tenant:ID|default> DIRECTION MODE"
		short = "Set the mode of one direction on a station, a group or the default"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(n, names),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := rules.ParseDirection(args[1])
			if err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			var mode rules.Mode
			if set {
				if mode, err = rules.ParseMode(args[2]); err != nil {
					return rules.Errorf(rules.EINVALID, "%v", err)
				}
			}
			return a.update(cmd, &w, func(rs *rules.RuleSet) error {
				modes, err := targetModes(rs, args[0], tenant)
				if err != nil {
					return err
				}
				if set {
					(*modes)[d] = mode
				} else {
					delete(*modes, d)
				}
				return nil
			})
		},
	}
	tenantFlag(cmd, &tenant)
	w.register(cmd)
	return cmd
}

// targetModes returns the mode set a rule TARGET names, creating it empty
// when needed.
func targetModes(rs *rules.RuleSet, target, tenant string) (*rules.ModeSet, error) {
	var m *rules.ModeSet
	switch {
	case target == "default":
		m = &rs.Defaults.Modes
	case strings.HasPrefix(target, "tenant:"):
		t, err := lookupTenant(rs, strings.TrimPrefix(target, "tenant:"))
		if err != nil {
			return nil, err
		}
		m = &t.Modes
	case strings.HasPrefix(target, "group:"):
		name := strings.TrimPrefix(target, "group:")
		groups, err := tenantGroups(rs, tenant)
		if err != nil {
			return nil, err
		}
		g, ok := groups[name]
		if !ok {
			return nil, rules.Errorf(rules.ENOTFOUND, "unknown group %q%s (%s)", name, inTenant(tenant), validList("groups", rs.GroupNames(tenant)))
		}
		m = &g.Modes
	default:
		st, ok := rs.Stations[target]
		if !ok {
			if err := rules.ValidateStationID(target); err != nil {
				return nil, rules.Errorf(rules.EINVALID, "%v", err) // the hint below would echo it raw
			}
			return nil, rules.Errorf(rules.ENOTFOUND, "unknown station %q (add it with: recgate station add %s; a group is written group:NAME)", target, target)
		}
		m = &st.Modes
	}
	if *m == nil {
		*m = rules.ModeSet{}
	}
	return m, nil
}
