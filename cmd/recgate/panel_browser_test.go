package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/recgate/recgate/auth"
	wavfile "github.com/recgate/recgate/internal/wav"
	"github.com/recgate/recgate/rules"
)

// The customer panel in a real browser: Debian's headless chromium driven
// by chromedp, against the real server (FastAGI and web listener) of
// startServerWith. With RECGATE_SCREENSHOTS=DIR set (relative to the
// module's root), the main pages are saved there as PNG: the README's
// pictures come from RECGATE_SCREENSHOTS=docs/img.

// findChromium returns the browser's path, or skips the test (fails it
// under RECGATE_TEST_REQUIRE_ALL=1).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("RECGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found: apt-get install chromium (or set RECGATE_CHROMIUM) to run the panel's browser test"
	if os.Getenv("RECGATE_TEST_REQUIRE_ALL") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// sineWAV is a 16-bit mono PCM WAV file of a 440 Hz tone.
func sineWAV(seconds float64, rate int) []byte {
	n := int(seconds * float64(rate))
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}

// hostileText is caller data meant to run script in the panel.
const hostileText = `"><script>alert('xss')</script><img src=x onerror=alert(1)>`

// browserWatch collects what must never happen on a page: a dialog
// (alert), an uncaught exception, a console error (a CSP violation is
// one).
type browserWatch struct {
	mu       sync.Mutex
	problems []string
}

func (bw *browserWatch) add(p string) {
	bw.mu.Lock()
	bw.problems = append(bw.problems, p)
	bw.mu.Unlock()
}

// listen subscribes to the tab's dialogs, exceptions and console calls
// until ctx ends; a dialog is dismissed so the page goes on.
func (bw *browserWatch) listen(ctx context.Context) {
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			bw.add("dialog: " + ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			bw.add("exception: " + ev.ExceptionDetails.Text)
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == "error" || ev.Type == "warning" {
				bw.add("console " + string(ev.Type))
			}
		}
	}()
}

func (bw *browserWatch) check(t *testing.T, where string) {
	t.Helper()
	bw.mu.Lock()
	defer bw.mu.Unlock()
	for _, p := range bw.problems {
		t.Errorf("%s: %s", where, p)
	}
	bw.problems = nil
}

func TestPanelInABrowser(t *testing.T) {
	chromium := findChromium(t)
	h := startServerWith(t, serverOpts{extra: `web: {listen: "127.0.0.1:0"}`})
	base := "http://" + h.m.WebAddr()
	ctx := context.Background()

	// People, hostile names, and a recording of 1001 backed by a real WAV.
	for _, u := range []struct {
		login  string
		role   auth.Role
		groups []string
	}{{"anna", auth.Admin, nil}, {"lena", auth.Listener, []string{"sales"}}} {
		hash, err := auth.HashPassword("correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.m.Store.CreateUser(ctx, "test", &auth.User{Login: u.login, Tenant: "default", Role: u.role, Groups: u.groups}, hash); err != nil {
			t.Fatal(err)
		}
	}
	wav := filepath.Join(h.recDir, "1001-tone.wav")
	if err := os.WriteFile(wav, sineWAV(2, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, err := wavfile.ReadFile(wav); err != nil || info.Samples != 16000 || info.NonSilent == 0 {
		t.Fatalf("the test's tone is not a 2-second WAV with sound: %+v %v", info, err)
	}
	start := time.Now().Add(-time.Hour).UTC()
	end := start.Add(2 * time.Second)
	earlier, earliest := start.Add(-25*time.Minute), start.Add(-70*time.Minute)
	earlierEnd := earlier.Add(2 * time.Second)
	recs := []*rules.Recording{
		{UniqueID: "BR-REC-1", Tenant: rules.DefaultTenant, Station: "1001", Direction: rules.InboundQueue, Mode: rules.Auto, Trigger: rules.TriggerAuto,
			Rule: "group:sales", File: wav, CallerID: "+48601234567", DID: "221234567", Queue: "sales", State: rules.StateEnded,
			StartedAt: &start, EndedAt: &end, Answered: ptrBool(true)},
		// Two more calls, for the pictures: a *2 recording and an
		// unanswered call.
		{UniqueID: "BR-REC-3", Tenant: rules.DefaultTenant, Station: "1002", Direction: rules.Outbound, Mode: rules.OnDemand,
			Trigger: rules.TriggerOnDemand, Rule: "station:1002", File: wav, CallerID: "1002", DID: "+48221234567",
			State: rules.StateEnded, StartedAt: &earlier, PressedAt: &earlier, EndedAt: &earlierEnd, Answered: ptrBool(true)},
		{UniqueID: "BR-REC-4", Tenant: rules.DefaultTenant, Station: "1003", Direction: rules.InboundDirect, Mode: rules.Auto,
			Trigger: rules.TriggerAuto, Rule: "group:sales", CallerID: "+48501002003", DID: "221234568",
			State: rules.StateRemoved, StartedAt: &earliest, EndedAt: &earliest, Answered: ptrBool(false)},
	}
	if err := h.m.Store.SaveRecordings(ctx, recs); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-GB"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(bctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	bw := &browserWatch{}
	bw.listen(bctx)
	shots := os.Getenv("RECGATE_SCREENSHOTS")
	if shots != "" && !filepath.IsAbs(shots) {
		shots = filepath.Join("..", "..", shots) // relative to the module's root, not this package
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			if shots == "" {
				return chromedp.Void{}, nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: PNG
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		bw.check(t, what)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	// open loads a page and returns its HTTP status, as the page's own
	// navigation timing reports it (NavigateResponse can miss the
	// document's response while a media element is still fetching).
	open := func(path string) int {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(base+path)); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation")[0].responseStatus`))
		if err != nil {
			t.Fatalf("status of %s: %v", path, err)
		}
		bw.check(t, path)
		return status
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Log in.
	do("login page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#login")), shot("login"))
	do("log in", chromedp.SendKeys(css("#login"), "anna"), chromedp.SendKeys(css("#password"), "correct horse battery"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css(`a[aria-current="page"][href="/t/default/phones"]`)), shot("phones"))
	if h1 := text("h1"); h1 != "Phones" {
		t.Errorf("after login: %q, want Phones", h1)
	}

	// Phone settings → Call recording: outgoing calls not recorded, Submit.
	open("/t/default/phones/1001")
	do("phone settings", chromedp.WaitVisible(css("#submit")), chromedp.Click(css(`input[name="outbound"][value="off"]`)), shot("phone-settings"),
		chromedp.Click(css("#submit")), chromedp.WaitVisible(css("#saved")), shot("phone-saved"))
	if saved := text("#saved"); !strings.Contains(saved, "apply from the next call") {
		t.Errorf("confirmation %q", saved)
	}
	// The very next call over FastAGI on the same server gets the new mode.
	ast, _ := h.call("0016-arm", outbound("1001", "BR-CALL-1"), nil)
	if v, _ := ast.Var("RECGATE_DECISION"); v != "off" {
		t.Errorf("decide after the panel's Submit: %q, want off", v)
	}
	if v, _ := ast.Var("RECGATE_RULE"); v != "station:1001" {
		t.Errorf("RECGATE_RULE %q, want station:1001", v)
	}

	// On a phone's screen: nothing wider than the screen but the tables,
	// which scroll inside their box.
	for _, p := range []string{"/t/default/phones/1001", "/t/default/recordings"} {
		do("narrow "+p, chromedp.EmulateViewport(390, 844))
		open(p)
		w, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
		if err != nil || w > 0 {
			t.Errorf("%s on a 390 px screen: %d px wider than the screen (%v)", p, w, err)
		}
	}
	do("phone screen", shot("recordings-mobile"), chromedp.ResetViewport())

	// Groups with the example setups.
	open("/t/default/groups")
	do("groups", chromedp.WaitVisible(css("table.presets")), shot("groups"))

	// Recordings: play the tone; the player knows its duration and plays.
	rec, err := h.m.Store.RecordingByUniqueID(ctx, "BR-REC-1")
	if err != nil {
		t.Fatal(err)
	}
	open("/t/default/recordings")
	do("recordings", chromedp.WaitVisible(css("table.recordings")), shot("recordings"),
		chromedp.Click(css(fmt.Sprintf(`a[href="/t/default/recordings/%d"]`, rec.ID))), chromedp.WaitVisible(css("#player")))
	duration, err := chromedp.Run(bctx, chromedp.Poll[float64](`(() => { const a = document.getElementById("player"); return a.readyState >= 1 && a.duration > 0 ? a.duration : 0; })()`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil || math.Abs(duration-2) > 0.05 {
		t.Errorf("the player reports %.3f s (%v), want 2", duration, err)
	}
	played, err := chromedp.Run(bctx, chromedp.Poll[float64](`(() => { const a = document.getElementById("player"); if (a.paused && a.currentTime == 0) { a.play(); } return a.currentTime > 0.3 ? a.currentTime : 0; })()`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil || played <= 0.3 {
		t.Errorf("the player did not play: currentTime %.2f (%v)", played, err)
	}
	do("pause", chromedp.Evaluate[chromedp.Void](`document.getElementById("player").pause()`), shot("recording"))

	open("/t/default/subject?number=601234567")
	do("subject", chromedp.WaitVisible(css("#export")), shot("subject"))

	// Polish.
	open("/t/default/recordings")
	do("polski", chromedp.Click(css(`button[name="lang"][value="pl"]`)), chromedp.WaitVisible(css(`html[lang="pl"]`)), shot("recordings-pl"))
	if h1, nav := text("h1"), text("header nav"); h1 != "Nagrywanie rozmów" || !strings.Contains(nav, "Telefony") || !strings.Contains(nav, "Użytkownicy") {
		t.Errorf("in Polish: h1 %q, nav %q", h1, nav)
	}
	open("/t/default/phones/1001")
	if v := text("#submit"); v != "Zatwierdź" {
		t.Errorf("Polish submit button %q", v)
	}
	do("english", chromedp.Click(css(`button[name="lang"][value="en"]`)), chromedp.WaitVisible(css(`html[lang="en"]`)))

	// Every page with hostile data stays inert (no dialog, no error).
	if _, err := h.m.Store.UpdateRules(ctx, "test", func(rs *rules.RuleSet) error {
		rs.Stations["2000"].Name = hostileText
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Store.SaveRecordings(ctx, []*rules.Recording{{UniqueID: "BR-REC-2", Tenant: rules.DefaultTenant, Station: "2000",
		Direction: rules.InboundDirect, Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "station:2000",
		CallerID: hostileText + "\u202e", DID: hostileText, Queue: hostileText, State: rules.StateRemoved,
		StartedAt: &start, EndedAt: &end, Answered: ptrBool(false)}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/t/default/phones", "/t/default/phones/2000", "/t/default/recordings",
		fmt.Sprintf("/t/default/recordings/%d", rec.ID+1), "/t/default/subject?number=221234567", "/t/default/audit",
		"/t/default/access", "/t/default/users"} {
		if st := open(p); st != http.StatusOK {
			t.Errorf("%s: status %d", p, st)
		}
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("script:not([src]), img, [onerror]").length`))
		if err != nil || n != 0 {
			t.Errorf("%s: %d injected elements (%v)", p, n, err)
		}
		bw.check(t, p)
	}

	// Log out: the session is gone, its cookie opens nothing.
	cookies, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	session := ""
	for _, c := range cookies.Cookies {
		if c.Name == "recgate_session" {
			session = c.Value
			if !c.HTTPOnly {
				t.Error("the session cookie is readable by scripts")
			}
		}
	}
	do("logout", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login")))
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: "recgate_session", Value: session})
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); session == "" || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session after logout: %d, want 401", res.StatusCode)
	}

	// A listener: no Phone settings in the menu, 403 by URL.
	do("listener", chromedp.SendKeys(css("#login"), "lena"), chromedp.SendKeys(css("#password"), "correct horse battery"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("table.recordings")))
	if nav := text("header nav"); strings.Contains(nav, "Phones") || strings.Contains(nav, "Users") || !strings.Contains(nav, "Recordings") {
		t.Errorf("listener's menu %q", nav)
	}
	if st := open("/t/default/phones/1001"); st != http.StatusForbidden || !strings.Contains(text("main p.error"), "role does not allow") {
		t.Errorf("listener at phone settings: %d, want 403", st)
	}
}

func ptrBool(b bool) *bool { return &b }
