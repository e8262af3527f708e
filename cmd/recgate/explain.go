package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
)

// explanation is explain's JSON output.
type explanation struct {
	Station   string          `json:"station"`
	Tenant    string          `json:"tenant"` // the station's tenant; "" for an unknown station
	Direction rules.Direction `json:"direction"`
	Mode      rules.Mode      `json:"mode"`
	Rule      string          `json:"rule"`
	Announce  bool            `json:"announce"`
	Chain     []rules.Step    `json:"chain"`
}

func newExplainCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain STATION DIRECTION",
		Short: "Show the decision recgate would make now, and the rules that produced it",
		Long: "The test call without a phone: resolves STATION and DIRECTION (" +
			strings.Join(directionNames(), ", ") + ")\nagainst the rules in the store, as the next call would.",
		Args: exactArgs(2, "STATION DIRECTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rules.ValidateText("STATION", args[0]); err != nil {
				return err // it is printed back: never raw on the terminal
			}
			d, err := rules.ParseDirection(args[1])
			if err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			dec, chain := rs.Explain(args[0], d)
			e := explanation{Station: args[0], Tenant: dec.Tenant, Direction: d, Mode: dec.Mode, Rule: dec.Rule, Announce: dec.Announce, Chain: chain}
			if asJSON {
				return printJSON(a.env.Stdout, e)
			}
			w := a.env.Stdout
			fmt.Fprintf(w, "station %s%s, %s: %s (rule %s, announce %s)\n", e.Station, inTenant(e.Tenant), e.Direction, e.Mode, e.Rule, yesNo(e.Announce))
			for _, s := range chain {
				mark, mode := "  ", string(s.Mode)
				if s.Decided {
					mark = "=>"
				}
				if mode == "" {
					mode = "(not set)"
				}
				line := fmt.Sprintf("%s %-24s %s", mark, s.Rule, mode)
				if s.Note != "" {
					line += "  [" + s.Note + "]"
				}
				fmt.Fprintln(w, strings.TrimRight(line, " "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func directionNames() []string { return rules.Names(rules.AllDirections()) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
