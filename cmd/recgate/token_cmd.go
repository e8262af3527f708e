package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

func newTokenCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "token", Short: "Create, list and revoke API tokens for programs"})
	cmd.AddCommand(newTokenCreateCmd(a), newTokenListCmd(a), newTokenRevokeCmd(a))
	return cmd
}

// tokenCreated is the output of token create --json: the only time the
// secret is shown.
type tokenCreated struct {
	auth.Token
	Secret string `json:"token"`
}

func newTokenCreateCmd(a *app) *cobra.Command {
	var f scopeFlags
	var expires, actor string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME --role R [--tenant T] [--groups G,...] [--expires 90d]",
		Short: "Create an API token; it is printed once and stored only as a hash",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("role") {
				return rules.Errorf(rules.EINVALID, "--role is required: operator, admin or listener")
			}
			t := &auth.Token{Name: args[0]}
			if err := f.apply(cmd, &t.Role, &t.Tenant, &t.Groups); err != nil {
				return err
			}
			if expires != "" {
				d, err := parseDays(expires)
				if err != nil {
					return err
				}
				at := time.Now().Add(d).UTC()
				t.ExpiresAt = &at
			}
			if err := t.Validate(rules.ValidateTenantID); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := checkTenant(cmd, st, t.Tenant); err != nil {
				return err
			}
			if err := checkGroups(cmd, st, t.Tenant, t.Groups); err != nil {
				return err
			}
			if err := checkTokenName(cmd, st, t.Tenant, t.Name); err != nil {
				return err
			}
			secret, hash, err := auth.NewSecret(auth.TokenPrefix)
			if err != nil {
				return err
			}
			if err := st.CreateToken(cmd.Context(), actor, t, hash); err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.env.Stdout, tokenCreated{Token: *t, Secret: secret})
			}
			fmt.Fprintf(a.env.Stdout, "token %d %q created (%s)\n%s\n", t.ID, t.Name, describeScope(t.Role, t.Tenant, t.Groups), secret)
			fmt.Fprintln(a.env.Stderr, "Copy the token now: it is not stored and cannot be shown again. Send it as: Authorization: Bearer <token>")
			return nil
		},
	}
	f.register(cmd, "operator (all tenants), admin or listener (one tenant)")
	cmd.Flags().StringVar(&expires, "expires", "", "expire after this long, e.g. 90d or 720h (default: never)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the secret is in \"token\")")
	actorFlag(cmd, &actor)
	return cmd
}

// checkTokenName refuses a name the tenant ("" for operators) has already
// given a token, revoked ones included: the audit and access logs name a
// token's actions "token:NAME", and two tokens of one name could not be
// told apart there.
func checkTokenName(cmd *cobra.Command, st *store.Store, tenant, name string) error {
	ts, err := st.Tokens(cmd.Context(), tenant)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Tenant == tenant && t.Name == name {
			owner := "tenant " + tenant
			if tenant == "" {
				owner = "the operators"
			}
			return rules.Errorf(rules.ECONFLICT, "%s already has a token named %q (token %d): names tell tokens apart in the audit and access logs; choose another",
				owner, name, t.ID)
		}
	}
	return nil
}

// parseDays parses 90d or a Go duration.
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 36500 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, rules.Errorf(rules.EINVALID, "--expires %q: use a number of days like 90d or a duration like 720h", s)
}

func newTokenListCmd(a *app) *cobra.Command {
	var tenant string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--tenant T] [--json]",
		Short: "List API tokens (never their secrets), newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := checkTenant(cmd, st, tenant); err != nil {
				return err
			}
			ts, err := st.Tokens(cmd.Context(), tenant)
			if err != nil {
				return err
			}
			now := time.Now()
			return table[auth.Token]{
				empty:  "no tokens",
				header: []string{"ID", "NAME", "ROLE", "TENANT", "GROUPS", "CREATED", "BY", "LAST USED", "STATE"},
				row: func(t auth.Token) []string {
					state := "active"
					switch {
					case t.RevokedAt != nil:
						state = "revoked"
					case !t.Active(now):
						state = "expired"
					}
					created := t.CreatedAt
					return []string{strconv.FormatInt(t.ID, 10), t.Name, string(t.Role), orDash(t.Tenant),
						orDash(strings.Join(t.Groups, ",")), fmtTime(&created), t.CreatedBy, fmtTime(t.LastUsedAt), state}
				},
			}.print(a.env.Stdout, ts, asJSON)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's tokens")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newTokenRevokeCmd(a *app) *cobra.Command {
	var actor string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token for good",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return rules.Errorf(rules.EINVALID, "token id %q: a positive number (see recgate token list)", args[0])
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeToken(cmd.Context(), actor, id); err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "token %d revoked\n", id)
			return nil
		},
	}
	actorFlag(cmd, &actor)
	return cmd
}
