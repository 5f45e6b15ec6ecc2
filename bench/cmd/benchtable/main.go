// Command benchtable runs the bench module's workloads against sessionlog
// and the Go ADK's in-memory session service and prints a markdown table
// of the median ns/op of each, their ratio and the target it should meet.
// It also measures the live heap each side holds per stored event
// (TestHeapPerEvent: 1,000,000 events a side, about 30 s and 3 GiB;
// -heap=false leaves it out). The append workloads also run a floor, a
// store that keeps a private copy of each event and does nothing else; its
// row shows how low the ratio to the ADK can go for any store that copies
// (CONTRACT A8).
//
// With SESSIONLOG_POSTGRES_DSN set (or -pg), it also runs the PostgreSQL
// workloads, sessionlog's pgstore with 1, 2 and 4 replicas against the Go
// ADK's gorm-based session/database service on that server, and prints a
// second table of their ratios.
//
// With -sqlite (the default), it also runs the SQLite workloads,
// sessionlog's sqlitestore against the same ADK service over gorm's
// SQLite driver, database files side by side in one directory, and prints
// a table of their ratios, each against the target 0.5 (for a throughput,
// the ratio of the time per append). -big adds the start-up workloads over
// 1,000,000 events to the PostgreSQL and SQLite runs (SESSIONLOG_BENCH_BIG=1).
//
// Run it from the bench directory:
//
//	go run ./cmd/benchtable -count 3
//	go run ./cmd/benchtable -mem=false -big -count 5   # the SQLite table alone, with 1,000,000 events
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	count := flag.Int("count", 3, "runs of each benchmark; the table shows the median")
	dir := flag.String("dir", ".", "the bench module's directory")
	timeout := flag.Duration("timeout", 60*time.Minute, "limit on the whole run")
	heap := flag.Bool("heap", true, "also measure the heap per stored event (1,000,000 events a side: about 30 s and 3 GiB)")
	pg := flag.Bool("pg", os.Getenv("SESSIONLOG_POSTGRES_DSN") != "", "also run the PostgreSQL workloads against the server at SESSIONLOG_POSTGRES_DSN (default: when it is set)")
	pgTime := flag.String("pgbenchtime", "3s", "benchtime of the PostgreSQL writer, Get and List workloads")
	mem := flag.Bool("mem", true, "run the in-memory workloads (and, with -heap, the heap per event)")
	sqlite := flag.Bool("sqlite", true, "also run the SQLite workloads")
	sqliteTime := flag.String("sqlitebenchtime", "2s", "benchtime of the SQLite writer, Get and List workloads")
	big := flag.Bool("big", false, "also run the start-up workloads over 1,000,000 events (SESSIONLOG_BENCH_BIG=1)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchtable [flags] [go test output files]\n\n"+
			"With files, it prints the tables of the benchmark output they hold and runs nothing.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	if flag.NArg() > 0 {
		var in []io.Reader
		for _, name := range flag.Args() {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchtable:", err)
				os.Exit(1)
			}
			defer f.Close()
			in = append(in, f, strings.NewReader("\n"))
		}
		res, cpu := parse(io.MultiReader(in...))
		printTables(res, cpu, hasPrefix(res, "AppendOne/"), hasPG(res), hasPrefix(res, "SQLite"))
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	n := strconv.Itoa(*count)
	// Rebuild folds a million events per iteration, so it runs on its own
	// with a fixed three iterations; everything else uses the default
	// benchtime.
	var runs [][]string
	if *mem {
		runs = append(runs,
			[]string{"test", "-run", "^$", "-bench", ".", "-skip", "^BenchmarkRebuild1M$|^BenchmarkPG|^BenchmarkSQLite", "-benchmem", "-count", n},
			[]string{"test", "-run", "^$", "-bench", "^BenchmarkRebuild1M$", "-benchtime", "3x", "-benchmem", "-count", n})
	}
	if *pg {
		// The PostgreSQL workloads run in rounds of one count each, so
		// that within a round the sides run one right after another on
		// a server whose load drifts. The start-up workload fills its
		// databases once per round and opens a replica per iteration, so
		// it runs a fixed five iterations (SESSIONLOG_BENCH_BIG=1 adds
		// 1,000,000 events).
		for range *count {
			runs = append(runs, []string{"test", "-run", "^$", "-bench", "^BenchmarkPG", "-skip", "^BenchmarkPGStartUp$", "-benchtime", *pgTime, "-benchmem", "-count", "1"})
		}
		for range *count {
			runs = append(runs, []string{"test", "-run", "^$", "-bench", "^BenchmarkPGStartUp$", "-benchtime", "5x", "-benchmem", "-count", "1"})
		}
	}
	if *sqlite {
		// As on PostgreSQL: rounds of one count each, the sides of a
		// workload one right after another on one disk.
		for range *count {
			runs = append(runs, []string{"test", "-run", "^$", "-bench", "^BenchmarkSQLite", "-skip", "^BenchmarkSQLiteStartUp$", "-benchtime", *sqliteTime, "-benchmem", "-count", "1"})
		}
		for range *count {
			runs = append(runs, []string{"test", "-run", "^$", "-bench", "^BenchmarkSQLiteStartUp$", "-benchtime", "5x", "-benchmem", "-count", "1"})
		}
	}
	var env []string
	if *big {
		env = []string{"SESSIONLOG_BENCH_BIG=1"}
	}
	var out strings.Builder
	run := func(env []string, args ...string) {
		fmt.Fprintln(os.Stderr, strings.Join(append(env, "go"), " "), strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = *dir
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
	for _, args := range runs {
		run(env, args...)
	}
	if *mem && *heap {
		// A test, not a benchmark: it fills each side once and reads the
		// live heap, which b.N iterations would only repeat.
		run([]string{"SESSIONLOG_BENCH_HEAP=1"}, "test", "-run", "^TestHeapPerEvent$", "-count", "1", "-v")
	}
	res, cpu := parse(strings.NewReader(out.String()))
	printTables(res, cpu, *mem, *pg, *sqlite)
}

// printTables writes the machine line, the in-memory table if mem, the
// PostgreSQL table if pg and the SQLite table if sqlite.
func printTables(res map[string]float64, cpu string, mem, pg, sqlite bool) {
	fmt.Printf("Machine: %d CPUs (%s), %s/%s, %s\n", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version())
	if mem {
		fmt.Printf("\n%s", table(res))
	}
	if pg {
		fmt.Printf("\nPostgreSQL, sessionlog's pgstore against the Go ADK's session/database (gorm):\n\n")
		fmt.Print(pgTable(res))
	}
	if sqlite {
		fmt.Printf("\nSQLite, sessionlog's sqlitestore against the Go ADK's session/database (gorm, mattn/go-sqlite3):\n\n")
		fmt.Print(sqliteTable(res))
	}
}

// hasPG reports whether res holds a result of a PostgreSQL workload.
func hasPG(res map[string]float64) bool { return hasPrefix(res, "PG") }

// hasPrefix reports whether res holds a result of a workload whose name
// starts with prefix.
func hasPrefix(res map[string]float64, prefix string) bool {
	for name := range res {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// parse reads `go test -bench` output and returns the median ns/op of
// each benchmark, keyed by its name without the Benchmark prefix and the
// -GOMAXPROCS suffix, along with the cpu: line. The median of a metric of
// another unit (b.ReportMetric's, such as appends/s) is keyed by the
// name, a space and the unit; B/op and allocs/op are left out.
func parse(r io.Reader) (map[string]float64, string) {
	samples := map[string][]float64{}
	var cpu string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(c)
			continue
		}
		if m := heapLine.FindStringSubmatch(line); m != nil {
			if v, err := strconv.ParseFloat(m[2], 64); err == nil {
				samples["HeapPerEvent/"+m[1]] = append(samples["HeapPerEvent/"+m[1]], v)
			}
			continue
		}
		f := strings.Fields(line)
		// Name, iterations, value, unit, [value, unit]...
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i >= 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			key := name
			switch unit := f[i+1]; unit {
			case "ns/op":
			case "B/op", "allocs/op":
				continue
			default:
				key = name + " " + unit
			}
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				samples[key] = append(samples[key], v)
			}
		}
	}
	med := make(map[string]float64, len(samples))
	for name, vs := range samples {
		med[name] = median(vs)
	}
	return med, cpu
}

// heapLine matches what TestHeapPerEvent logs for each side.
var heapLine = regexp.MustCompile(`\b(adk|sessionlog):\s+\d+ bytes live for \d+ events: ([0-9.]+) B/event`)

func median(vs []float64) float64 {
	vs = slices.Sorted(slices.Values(vs))
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// comparison is one row comparing sessionlog with the ADK.
type comparison struct {
	label, workload string
	target          float64 // highest acceptable sessionlog/ADK ratio
}

var comparisons = []comparison{
	{"append one", "AppendOne", 0.4},
	{"append parallel", "AppendParallel", 0.3},
	{"Get all 10,000", "GetAll10000", 0.05},
	{"Get last 10", "GetLast10", 0.5},
	{"List 100 of 10,000", "List100of10000", 0.5},
}

// table renders the medians as a markdown table. Missing benchmarks show
// as "n/a" and never count as met.
func table(res map[string]float64) string {
	var b strings.Builder
	b.WriteString("| workload | ADK ns/op | sessionlog ns/op | ratio sessionlog/ADK | target | met? |\n")
	b.WriteString("|---|---:|---:|---:|---|---|\n")
	row := func(label, adk, sl, ratio, target string, met bool, known bool) {
		verdict := "n/a"
		if known {
			verdict = "no"
			if met {
				verdict = "yes"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", label, adk, sl, ratio, target, verdict)
	}
	for _, c := range comparisons {
		adk, okA := res[c.workload+"/adk"]
		sl, okS := res[c.workload+"/sessionlog"]
		ratio := "n/a"
		if okA && okS && adk > 0 {
			ratio = fmt.Sprintf("%.3f", sl/adk)
		}
		row(c.label, ns(adk, okA), ns(sl, okS), ratio, fmt.Sprintf("≤ %.2f", c.target),
			okA && okS && adk > 0 && sl/adk <= c.target, okA && okS && adk > 0)
		// The floor (a store that only keeps a private copy of each
		// event) shows how low the ratio can go for any store that copies.
		if fl, ok := res[c.workload+"/floor"]; ok {
			ratio := "n/a"
			if okA && adk > 0 {
				ratio = fmt.Sprintf("%.3f", fl/adk)
			}
			row(c.label+", floor: copy only", ns(adk, okA), ns(fl, true)+" (floor)", ratio, "—", false, false)
		}
	}
	adk, okA := res["HeapPerEvent/adk"]
	sl, okS := res["HeapPerEvent/sessionlog"]
	ratio := "n/a"
	if okA && okS && adk > 0 {
		ratio = fmt.Sprintf("%.3f", sl/adk)
	}
	row("heap per stored event, bytes (1,000,000 events)", ns(adk, okA), ns(sl, okS), ratio, "≤ 1.00",
		okA && okS && adk > 0 && sl/adk <= 1, okA && okS && adk > 0)
	base, okBase := res["AppendSubscribers/subs=0"]
	for _, n := range []int{1, 10, 100} {
		v, ok := res[fmt.Sprintf("AppendSubscribers/subs=%d", n)]
		ratio, target := "n/a", "—"
		known := ok && okBase && base > 0
		if known {
			ratio = fmt.Sprintf("%.3f (vs subs=0)", v/base)
		}
		met := false
		if n == 100 {
			target = "≤ 2.00 vs subs=0"
			met = known && v/base <= 2.0
		} else {
			known = false
		}
		label := fmt.Sprintf("append, %d subscribers", n)
		if n == 1 {
			label = "append, 1 subscriber"
		}
		row(label, "—", ns(v, ok), ratio, target, met, known)
	}
	v, ok := res["Rebuild1M"]
	row("Rebuild 1,000,000 events", "—", ns(v, ok), "—", "< 2 s", ok && v < 2e9, ok)
	return b.String()
}

func ns(v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// pgRow is one row of the PostgreSQL table: a metric of an ADK benchmark
// and the same metric of a sessionlog one.
type pgRow struct {
	label     string
	adk, ours string // result keys, as parse makes them
	unit      string // what the numbers are
	higher    bool   // a higher number is better (throughput)
	adkOnly   bool   // sessionlog has no such step: its side is n/a
}

// pgRows lists the PostgreSQL comparisons, for the replica counts and
// database sizes the benchmarks run.
func pgRows() []pgRow {
	var rows []pgRow
	for _, r := range []int{1, 2, 4} {
		sl := fmt.Sprintf("sessionlog/replicas=%d", r)
		replicas := ""
		if r > 1 {
			replicas = fmt.Sprintf(", sessionlog on %d replicas", r)
		}
		rows = append(rows,
			pgRow{"append, 1 writer" + replicas, "PGAppendOne/adk", "PGAppendOne/" + sl, "ns/op", false, false},
			pgRow{"append, 16 writers" + replicas, "PGAppendParallel/adk appends/s", "PGAppendParallel/" + sl + " appends/s", "appends/s", true, false})
	}
	// The floor: the server's side of pgstore's batches alone, as 16
	// writers make them with one batch in flight and with two.
	for _, f := range []struct{ key, label string }{
		{"batch=16/in-flight=1", "batches of 16, one in flight"},
		{"batch=8/in-flight=2", "batches of 8, two in flight"},
		{"batch=16/in-flight=2", "batches of 16, two in flight (32 writers)"},
	} {
		rows = append(rows, pgRow{"the server alone, " + f.label, "", "PGBatchFloor/" + f.key + " appends/s", "appends/s", true, false})
	}
	rows = append(rows,
		pgRow{"Get of a 100-event session, all events", "PGGetAll100/adk", "PGGetAll100/sessionlog", "ns/op", false, false},
		pgRow{"Get of a 100-event session, last 10", "PGGetLast10/adk", "PGGetLast10/sessionlog", "ns/op", false, false},
		pgRow{"List a user's 100 sessions (of 1,000)", "PGList100/adk", "PGList100/sessionlog", "ns/op", false, false})
	return append(rows, startUpRows("PGStartUp", "open a new replica", "its first Get (100 events)", false)...)
}

// startUpRows are the rows of a start-up benchmark (PGStartUp or
// SQLiteStartUp) over 100,000 and 1,000,000 events: each of its metrics,
// the open and the first Get under the labels given, and, with total, the
// two together first (the benchmark's ns/op).
func startUpRows(bench, open, firstGet string, total bool) []pgRow {
	var rows []pgRow
	for _, size := range []struct{ key, label string }{{"100000", "100,000"}, {"1000000", "1,000,000"}} {
		base := bench + "/events=" + size.key + "/"
		if total {
			rows = append(rows, pgRow{"open and first Get (100 events), over " + size.label + " events", base + "adk", base + "sessionlog", "ns/op", false, false})
		}
		for _, m := range []struct {
			metric, label, unit string
			adkOnly             bool
		}{
			{"open-ns", open, "ns", false},
			{"migrate-ns", "of which the ADK's AutoMigrate", "ns", true},
			{"first-get-ns", firstGet, "ns", false},
			{"get-warm-ns", "the same Get again", "ns", false},
			{"heap-open-B", "Go heap added by the open", "B", false},
			{"heap-get-B", "Go heap added by the open and the first Get", "B", false},
			{"heap-events-B", "a copy of that Get's events alone, each decoded anew (a floor of the row above)", "B", false},
		} {
			rows = append(rows, pgRow{m.label + ", over " + size.label + " events",
				base + "adk " + m.metric, base + "sessionlog " + m.metric, m.unit, false, m.adkOnly})
		}
	}
	return rows
}

// pgTable renders the PostgreSQL comparisons as a markdown table with the
// ratio sessionlog/ADK. A row whose sessionlog side did not run is left
// out (the ADK runs once for all replica counts), and so is one with
// neither side; a side missing otherwise shows as "n/a".
func pgTable(res map[string]float64) string {
	var b strings.Builder
	b.WriteString("| workload | ADK | sessionlog | ratio sessionlog/ADK | better |\n")
	b.WriteString("|---|---:|---:|---:|---|\n")
	for _, r := range pgRows() {
		adk, okA := res[r.adk]
		sl, okS := res[r.ours]
		if !okS && (!r.adkOnly || !okA) {
			continue
		}
		ratio := "n/a"
		if okA && okS && adk > 0 {
			ratio = fmt.Sprintf("%.3f", sl/adk)
		}
		better := "lower"
		if r.higher {
			better = "higher"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.label, human(adk, okA, r.unit), human(sl, okS, r.unit), ratio, better)
	}
	return b.String()
}

// human writes v of unit (ns/op, ns, B or another) with three significant
// digits in a unit that suits its size: µs, ms or s for times, KiB or MiB
// for bytes.
func human(v float64, ok bool, unit string) string {
	if !ok {
		return "n/a"
	}
	var scales []struct {
		div  float64
		name string
	}
	switch unit {
	case "ns/op", "ns":
		scales = []struct {
			div  float64
			name string
		}{{1e9, "s"}, {1e6, "ms"}, {1e3, "µs"}, {1, "ns"}}
	case "B":
		scales = []struct {
			div  float64
			name string
		}{{1 << 20, "MiB"}, {1 << 10, "KiB"}, {1, "B"}}
	default:
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + unit
	}
	for _, sc := range scales {
		if v >= sc.div || sc.div == 1 {
			x := v / sc.div
			prec := 0
			switch {
			case sc.div == 1:
			case x < 10:
				prec = 2
			case x < 100:
				prec = 1
			}
			return strconv.FormatFloat(x, 'f', prec, 64) + " " + sc.name
		}
	}
	return ""
}

// sqliteTarget is the highest acceptable ratio of sessionlog's time to
// the ADK's in every SQLite row (issue 17).
const sqliteTarget = 0.5

// sqliteRows lists the SQLite comparisons. Unless a row says otherwise,
// both sides run in WAL mode with synchronous=FULL (sessionlog's
// SyncFull).
func sqliteRows() []pgRow {
	const one, par = "SQLiteAppendOne/", "SQLiteAppendParallel/"
	rows := []pgRow{
		{"append, 1 writer", one + "adk", one + "sessionlog/sync=full", "ns/op", false, false},
		{"append, 1 writer, both synchronous=NORMAL", one + "adk-normal", one + "sessionlog/sync=normal", "ns/op", false, false},
		{"append, 1 writer, the ADK with the driver's defaults (rollback journal, FULL)", one + "adk-defaults", one + "sessionlog/sync=full", "ns/op", false, false},
		{"append, 16 writers", par + "adk appends/s", par + "sessionlog/sync=full appends/s", "appends/s", true, false},
		{"append, 16 writers, both synchronous=NORMAL", par + "adk-normal appends/s", par + "sessionlog/sync=normal appends/s", "appends/s", true, false},
		{"Get of a 10,000-event session, all events", "SQLiteGetAll10000/adk", "SQLiteGetAll10000/sessionlog", "ns/op", false, false},
		{"Get of a 10,000-event session, last 10", "SQLiteGetLast10/adk", "SQLiteGetLast10/sessionlog", "ns/op", false, false},
		{"List a user's 100 sessions (of 1,000)", "SQLiteList100/adk", "SQLiteList100/sessionlog", "ns/op", false, false},
	}
	return append(rows, startUpRows("SQLiteStartUp", "open", "its first Get", true)...)
}

// sqliteTable renders the SQLite comparisons as a markdown table: each
// side's median, the ratio of sessionlog's time (or bytes) to the ADK's
// (for a throughput, the ADK's appends/s over sessionlog's, which is the
// ratio of the time per append) and whether it meets sqliteTarget. A row
// is left out unless both its sides ran (the ADK's alone for a step only
// it has): the sides of a SQLite workload run in one benchmark.
func sqliteTable(res map[string]float64) string {
	var b strings.Builder
	b.WriteString("| workload | ADK | sessionlog | ratio sessionlog/ADK | ≤ 0.5? |\n")
	b.WriteString("|---|---:|---:|---:|---|\n")
	for _, r := range sqliteRows() {
		adk, okA := res[r.adk]
		sl, okS := res[r.ours]
		if !okA || !okS && !r.adkOnly {
			continue
		}
		ratio, met := "n/a", "n/a"
		if okA && okS && adk > 0 && sl > 0 {
			x := sl / adk
			if r.higher {
				x = adk / sl
			}
			ratio = fmt.Sprintf("%.3f", x)
			met = "no"
			if x <= sqliteTarget {
				met = "yes"
			}
		}
		if r.adkOnly {
			met = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.label, human(adk, okA, r.unit), human(sl, okS, r.unit), ratio, met)
	}
	return b.String()
}
