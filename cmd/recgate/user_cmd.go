package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

func newUserCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "user", Short: "Add, change, remove and list the people who use the API and panel"})
	cmd.AddCommand(newUserAddCmd(a), newUserSetCmd(a), newUserRmCmd(a), newUserListCmd(a), newUserPasswdCmd(a))
	return cmd
}

// scopeFlags are --role, --tenant and --groups of users and tokens.
type scopeFlags struct {
	role, tenant, groups string
}

func (f *scopeFlags) register(cmd *cobra.Command, roleHelp string) {
	cmd.Flags().StringVar(&f.role, "role", "", roleHelp)
	cmd.Flags().StringVar(&f.tenant, "tenant", "", "the tenant (admins and listeners; none for operators)")
	cmd.Flags().StringVar(&f.groups, "groups", "", "a listener's groups, comma-separated (\"\" for all of the tenant's)")
}

// apply sets the flags given on role, tenant and groups.
func (f *scopeFlags) apply(cmd *cobra.Command, role *auth.Role, tenant *string, groups *[]string) error {
	fl := cmd.Flags()
	if fl.Changed("role") {
		r, err := auth.ParseRole(f.role)
		if err != nil {
			return rules.Errorf(rules.EINVALID, "--role: %v", err)
		}
		*role = r
		if r == auth.Operator && !fl.Changed("tenant") {
			*tenant = ""
		}
		if r != auth.Listener && !fl.Changed("groups") {
			*groups = nil
		}
	}
	if fl.Changed("tenant") {
		*tenant = f.tenant
	}
	if fl.Changed("groups") {
		*groups = splitList(f.groups)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func newUserAddCmd(a *app) *cobra.Command {
	var f scopeFlags
	var actor string
	cmd := &cobra.Command{
		Use:   "add LOGIN --role operator|admin|listener [--tenant T] [--groups G,...]",
		Short: "Add a user; the password is asked for (or read from stdin)",
		Long: "Adds a user. The password (at least 12 characters) is asked for twice on a terminal,\n" +
			"or read as the first line of stdin otherwise; never from the command line.",
		Args: exactArgs(1, "LOGIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("role") {
				return rules.Errorf(rules.EINVALID, "--role is required: operator, admin or listener")
			}
			u := &auth.User{Login: strings.ToLower(args[0])}
			if err := f.apply(cmd, &u.Role, &u.Tenant, &u.Groups); err != nil {
				return err
			}
			if err := u.Validate(rules.ValidateTenantID); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			hash, err := readNewPassword(a.env)
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := checkTenant(cmd, st, u.Tenant); err != nil {
				return err
			}
			if err := checkGroups(cmd, st, u.Tenant, u.Groups); err != nil {
				return err
			}
			if err := st.CreateUser(cmd.Context(), actor, u, hash); err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "user %s added (%s)\n", u.Login, describeScope(u.Role, u.Tenant, u.Groups))
			return nil
		},
	}
	f.register(cmd, "operator (all tenants), admin or listener (one tenant)")
	actorFlag(cmd, &actor)
	return cmd
}

func newUserSetCmd(a *app) *cobra.Command {
	var f scopeFlags
	var disabled, actor string
	cmd := &cobra.Command{
		Use:   "set LOGIN [--role R] [--tenant T] [--groups G,...] [--disabled yes|no]",
		Short: "Change a user's role, tenant, groups or whether it may log in",
		Args:  exactArgs(1, "LOGIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var dis *bool
			if cmd.Flags().Changed("disabled") {
				b, err := parseTriState("--disabled", disabled)
				if err != nil || b == nil {
					return rules.Errorf(rules.EINVALID, "--disabled %q: use yes or no", disabled)
				}
				dis = b
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if cmd.Flags().Changed("tenant") {
				if err := checkTenant(cmd, st, f.tenant); err != nil {
					return err
				}
			}
			old, err := st.User(cmd.Context(), strings.ToLower(args[0]))
			if err != nil {
				return err
			}
			next := *old
			if err := f.apply(cmd, &next.Role, &next.Tenant, &next.Groups); err != nil {
				return err
			}
			if err := checkGroups(cmd, st, next.Tenant, next.Groups); err != nil {
				return err
			}
			_, changes, err := st.UpdateUser(cmd.Context(), actor, strings.ToLower(args[0]), func(u *auth.User) error {
				if dis != nil {
					u.Disabled = *dis
				}
				return f.apply(cmd, &u.Role, &u.Tenant, &u.Groups)
			})
			if err != nil {
				return err
			}
			printChanges(a.env.Stdout, changes, false)
			return nil
		},
	}
	f.register(cmd, "operator, admin or listener")
	cmd.Flags().StringVar(&disabled, "disabled", "", "yes: the user can no longer log in (its sessions end); no: it can again")
	actorFlag(cmd, &actor)
	return cmd
}

func newUserRmCmd(a *app) *cobra.Command {
	var actor string
	cmd := &cobra.Command{
		Use:   "rm LOGIN",
		Short: "Remove a user and end its sessions",
		Args:  exactArgs(1, "LOGIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			login := strings.ToLower(args[0])
			if err := st.DeleteUser(cmd.Context(), actor, login); err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "user %s removed\n", login)
			return nil
		},
	}
	actorFlag(cmd, &actor)
	return cmd
}

func newUserPasswdCmd(a *app) *cobra.Command {
	var actor string
	cmd := &cobra.Command{
		Use:   "passwd LOGIN",
		Short: "Set a user's password (asked for, or read from stdin); its sessions end",
		Args:  exactArgs(1, "LOGIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			login := strings.ToLower(args[0])
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := st.User(cmd.Context(), login); err != nil {
				return err
			}
			hash, err := readNewPassword(a.env)
			if err != nil {
				return err
			}
			if err := st.SetUserPassword(cmd.Context(), actor, login, hash); err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "password of %s changed; its sessions were ended\n", login)
			return nil
		},
	}
	actorFlag(cmd, &actor)
	return cmd
}

func newUserListCmd(a *app) *cobra.Command {
	var tenant string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--tenant T] [--json]",
		Short: "List users",
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
			users, err := st.Users(cmd.Context(), tenant)
			if err != nil {
				return err
			}
			return table[auth.User]{
				empty:  "no users",
				header: []string{"LOGIN", "ROLE", "TENANT", "GROUPS", "DISABLED", "CREATED"},
				row: func(u auth.User) []string {
					created := u.CreatedAt
					return []string{u.Login, string(u.Role), orDash(u.Tenant), orDash(strings.Join(u.Groups, ",")),
						yesNo(u.Disabled), fmtTime(&created)}
				},
			}.print(a.env.Stdout, users, asJSON)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's users")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readNewPassword reads a new password, asking twice on a terminal or
// reading the first line of stdin otherwise, checks it and returns its
// hash.
func readNewPassword(env *Env) (string, error) {
	var pw string
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, "new password (at least 12 characters): ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.Stderr, "again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", rules.Errorf(rules.EINVALID, "the two passwords differ; nothing changed")
		}
		pw = string(p1)
	} else {
		line, err := bufio.NewReader(io.LimitReader(env.Stdin, auth.MaxPasswordLength+2)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", rules.Errorf(rules.EINVALID, "no password on stdin (give it as the first line; at least %d characters)", auth.MinPasswordLength)
		}
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return "", rules.Errorf(rules.EINVALID, "%v; nothing changed", err)
	}
	return hash, nil
}

func describeScope(role auth.Role, tenant string, groups []string) string {
	s := string(role)
	if tenant != "" {
		s += " of tenant " + tenant
	}
	if len(groups) > 0 {
		s += ", groups " + strings.Join(groups, ",")
	}
	return s
}

// checkTenant refuses a malformed tenant id for a user or token, or one
// that does not exist. An empty id (an operator, or every tenant) passes.
func checkTenant(cmd *cobra.Command, st *store.Store, tenant string) error {
	if tenant == "" {
		return nil
	}
	if err := rules.ValidateTenantID(tenant); err != nil {
		return rules.Errorf(rules.EINVALID, "--tenant: %v", err)
	}
	if _, err := st.Tenant(cmd.Context(), tenant); rules.ErrorCode(err) == rules.ENOTFOUND {
		return rules.Errorf(rules.ENOTFOUND, "unknown tenant %q (add it with: recgate tenant add %s)", tenant, tenant)
	} else if err != nil {
		return err
	}
	return nil
}

// checkGroups refuses a listener's groups that its tenant does not have,
// as the API does: a misspelt group would show the listener nothing.
func checkGroups(cmd *cobra.Command, st *store.Store, tenant string, groups []string) error {
	if len(groups) == 0 || tenant == "" {
		return nil
	}
	gs, err := st.Groups(cmd.Context(), tenant)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(gs))
	for _, g := range gs {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	for _, g := range groups {
		if !slices.Contains(names, g) {
			valid := "the tenant has no groups"
			if len(names) > 0 {
				valid = "valid: " + strings.Join(names, ", ")
			}
			return rules.Errorf(rules.EINVALID, "--groups: unknown group %q in tenant %s (%s)", g, tenant, valid)
		}
	}
	return nil
}
