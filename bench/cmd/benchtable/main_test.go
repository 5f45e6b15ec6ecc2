package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/sessionlog/sessionlog/bench
cpu: Test CPU @ 3.00GHz
BenchmarkAppendOne/adk-2         	 1000000	      1000 ns/op	    4384 B/op	      31 allocs/op
BenchmarkAppendOne/adk-2         	 1000000	      1200 ns/op	    4384 B/op	      31 allocs/op
BenchmarkAppendOne/adk-2         	 1000000	       900 ns/op	    4384 B/op	      31 allocs/op
BenchmarkAppendOne/sessionlog-2  	 1000000	       300 ns/op	    3344 B/op	      24 allocs/op
BenchmarkAppendOne/sessionlog-2  	 1000000	       500 ns/op	    3344 B/op	      24 allocs/op
BenchmarkAppendOne/floor-2       	 1000000	       600 ns/op	    2029 B/op	      13 allocs/op
BenchmarkAppendSubscribers/subs=0-2   	  500000	      2000 ns/op
BenchmarkAppendSubscribers/subs=100-2 	  100000	      5000 ns/op
BenchmarkGetAll10000/adk-2       	   10000	    100000 ns/op
BenchmarkGetAll10000/sessionlog-2	 1000000	      1000 ns/op
BenchmarkRebuild1M-2             	       3	 491051009 ns/op	37879696 B/op	    3997 allocs/op
=== RUN   TestHeapPerEvent
    workloads_test.go:550: adk:        1032893248 bytes live for 1000000 events: 1032.9 B/event
    workloads_test.go:551: sessionlog: 1204670456 bytes live for 1000000 events: 1204.7 B/event
    workloads_test.go:552: ratio sessionlog/adk: 1.17
--- PASS: TestHeapPerEvent (29.01s)
--- FAIL: BenchmarkBroken
BenchmarkNoNumber-2 ok 12 ns/op
PASS
ok  	github.com/sessionlog/sessionlog/bench	6.530s
`

func TestParse(t *testing.T) {
	res, cpu := parse(strings.NewReader(sample))
	if cpu != "Test CPU @ 3.00GHz" {
		t.Errorf("cpu = %q", cpu)
	}
	want := map[string]float64{
		"AppendOne/adk":              1000, // median of three
		"AppendOne/sessionlog":       400,  // mean of the middle two
		"AppendOne/floor":            600,
		"AppendSubscribers/subs=0":   2000,
		"AppendSubscribers/subs=100": 5000,
		"GetAll10000/adk":            100000,
		"GetAll10000/sessionlog":     1000,
		"Rebuild1M":                  491051009,
		"HeapPerEvent/adk":           1032.9,
		"HeapPerEvent/sessionlog":    1204.7,
	}
	if len(res) != len(want) {
		t.Errorf("got %d benchmarks %v, want %d", len(res), res, len(want))
	}
	for name, v := range want {
		if res[name] != v {
			t.Errorf("%s = %v, want %v", name, res[name], v)
		}
	}
}

func TestTable(t *testing.T) {
	res, _ := parse(strings.NewReader(sample))
	got := table(res)
	for _, line := range []string{
		"| append one | 1000 | 400 | 0.400 | ≤ 0.40 | yes |",
		"| append one, floor: copy only | 1000 | 600 (floor) | 0.600 | — | n/a |",
		"| Get all 10,000 | 100000 | 1000 | 0.010 | ≤ 0.05 | yes |",
		"| append parallel | n/a | n/a | n/a | ≤ 0.30 | n/a |",
		"| append, 100 subscribers | — | 5000 | 2.500 (vs subs=0) | ≤ 2.00 vs subs=0 | no |",
		"| Rebuild 1,000,000 events | — | 491051009 | — | < 2 s | yes |",
		"| heap per stored event, bytes (1,000,000 events) | 1033 | 1205 | 1.166 | ≤ 1.00 | no |",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("table lacks %q:\n%s", line, got)
		}
	}
}

const pgSample = `cpu: Test CPU @ 3.00GHz
BenchmarkPGAppendOne/adk-2                       	     200	   9000000 ns/op	       111.1 appends/s	   56516 B/op	     714 allocs/op
BenchmarkPGAppendOne/sessionlog/replicas=1-2     	     200	   4500000 ns/op	       222.2 appends/s	   13033 B/op	     174 allocs/op
BenchmarkPGAppendParallel/adk-2                  	     530	   7000000 ns/op	       140.0 appends/s	   59750 B/op	     729 allocs/op
BenchmarkPGAppendParallel/adk-2                  	     530	   7000000 ns/op	       160.0 appends/s	   59750 B/op	     729 allocs/op
BenchmarkPGAppendParallel/sessionlog/replicas=2-2	    2626	   1300000 ns/op	       750.0 appends/s	   14836 B/op	     153 allocs/op
BenchmarkPGBatchFloor/batch=16/in-flight=1-2         	   46682	     74808 ns/op	     13369 appends/s	    3453 B/op	      16 allocs/op
BenchmarkPGStartUp/events=100000/adk-2           	       5	1471879370 ns/op	 143850088 first-get-ns	  44325449 get-warm-ns	    105880 heap-events-B	    165536 heap-get-B	    122488 heap-open-B	1300000000 migrate-ns	1380850347 open-ns	 1494661 B/op	   18522 allocs/op
BenchmarkPGStartUp/events=100000/sessionlog-2    	       5	 158494497 ns/op	  61757374 first-get-ns	   5367384 get-warm-ns	    108664 heap-events-B	    293376 heap-get-B	    107240 heap-open-B	  76876436 open-ns	  636656 B/op	    7441 allocs/op
`

// Metrics of other units than ns/op are kept under the name and the unit,
// with their median; B/op and allocs/op are not.
func TestParseMetrics(t *testing.T) {
	res, _ := parse(strings.NewReader(pgSample))
	want := map[string]float64{
		"PGAppendOne/adk":                                  9000000,
		"PGAppendOne/adk appends/s":                        111.1,
		"PGAppendOne/sessionlog/replicas=1":                4500000,
		"PGAppendOne/sessionlog/replicas=1 appends/s":      222.2,
		"PGAppendParallel/adk":                             7000000,
		"PGBatchFloor/batch=16/in-flight=1":                74808,
		"PGBatchFloor/batch=16/in-flight=1 appends/s":      13369,
		"PGAppendParallel/adk appends/s":                   150, // mean of the middle two
		"PGAppendParallel/sessionlog/replicas=2":           1300000,
		"PGAppendParallel/sessionlog/replicas=2 appends/s": 750,
		"PGStartUp/events=100000/adk":                      1471879370,
		"PGStartUp/events=100000/adk first-get-ns":         143850088,
		"PGStartUp/events=100000/adk get-warm-ns":          44325449,
		"PGStartUp/events=100000/adk heap-get-B":           165536,
		"PGStartUp/events=100000/adk heap-events-B":        105880,
		"PGStartUp/events=100000/adk heap-open-B":          122488,
		"PGStartUp/events=100000/adk migrate-ns":           1300000000,
		"PGStartUp/events=100000/adk open-ns":              1380850347,
		"PGStartUp/events=100000/sessionlog":               158494497,
		"PGStartUp/events=100000/sessionlog first-get-ns":  61757374,
		"PGStartUp/events=100000/sessionlog get-warm-ns":   5367384,
		"PGStartUp/events=100000/sessionlog heap-get-B":    293376,
		"PGStartUp/events=100000/sessionlog heap-events-B": 108664,
		"PGStartUp/events=100000/sessionlog heap-open-B":   107240,
		"PGStartUp/events=100000/sessionlog open-ns":       76876436,
	}
	if len(res) != len(want) {
		t.Errorf("got %d results %v, want %d", len(res), res, len(want))
	}
	for name, v := range want {
		if got, ok := res[name]; !ok || got != v {
			t.Errorf("%s = %v (present: %v), want %v", name, got, ok, v)
		}
	}
}

func TestPGTable(t *testing.T) {
	res, _ := parse(strings.NewReader(pgSample))
	got := pgTable(res)
	for _, line := range []string{
		"| append, 1 writer | 9.00 ms | 4.50 ms | 0.500 | lower |",
		"| append, 16 writers, sessionlog on 2 replicas | 150 appends/s | 750 appends/s | 5.000 | higher |",
		"| open a new replica, over 100,000 events | 1.38 s | 76.9 ms | 0.056 | lower |",
		"| of which the ADK's AutoMigrate, over 100,000 events | 1.30 s | n/a | n/a | lower |",
		"| the server alone, batches of 16, one in flight | n/a | 13369 appends/s | n/a | higher |",
		"| Go heap added by the open and the first Get, over 100,000 events | 162 KiB | 286 KiB | 1.772 | lower |",
		"| a copy of that Get's events alone, each decoded anew (a floor of the row above), over 100,000 events | 103 KiB | 106 KiB | 1.026 | lower |",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("table lacks %q:\n%s", line, got)
		}
	}
	// Workloads that did not run at all have no row.
	for _, absent := range []string{"Get of a 100-event session", "over 1,000,000 events", "append, 1 writer, sessionlog on 2 replicas", "append, 16 writers |"} {
		if strings.Contains(got, absent) {
			t.Errorf("table has a row for %q, which did not run:\n%s", absent, got)
		}
	}
}

// Saved output prints the PostgreSQL table only when it holds a
// PostgreSQL workload.
func TestHasPG(t *testing.T) {
	mem, _ := parse(strings.NewReader(sample))
	pg, _ := parse(strings.NewReader(pgSample))
	if hasPG(mem) {
		t.Error("hasPG of the in-memory sample is true")
	}
	if !hasPG(pg) {
		t.Error("hasPG of the PostgreSQL sample is false")
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct {
		v    float64
		ok   bool
		unit string
		want string
	}{
		{0, false, "ns", "n/a"},
		{512, true, "ns/op", "512 ns"},
		{1500, true, "ns/op", "1.50 µs"},
		{25_400_000, true, "ns", "25.4 ms"},
		{2_500_000_000, true, "ns", "2.50 s"},
		{0, true, "B", "0 B"},
		{5, true, "ns", "5 ns"},
		{3 << 20, true, "B", "3.00 MiB"},
		{1681.5, true, "appends/s", "1682 appends/s"},
	} {
		if got := human(c.v, c.ok, c.unit); got != c.want {
			t.Errorf("human(%v, %v, %q) = %q, want %q", c.v, c.ok, c.unit, got, c.want)
		}
	}
}

const sqliteSample = `cpu: Test CPU @ 3.00GHz
BenchmarkSQLiteAppendOne/adk-2                       	    1980	   1300000 ns/op	       769.2 appends/s	   55558 B/op	     737 allocs/op
BenchmarkSQLiteAppendOne/adk-normal-2                	    7293	    600000 ns/op	      1667 appends/s	   55499 B/op	     737 allocs/op
BenchmarkSQLiteAppendOne/sessionlog/sync=full-2      	    2000	   1000000 ns/op	      1000 appends/s	   5555 B/op	     73 allocs/op
BenchmarkSQLiteAppendOne/sessionlog/sync=normal-2    	   20000	    100000 ns/op	     10000 appends/s	   5555 B/op	     73 allocs/op
BenchmarkSQLiteAppendParallel/adk-2                  	     706	   3224257 ns/op	       300.0 appends/s	   56196 B/op	     744 allocs/op
BenchmarkSQLiteAppendParallel/sessionlog/sync=full-2 	    7060	    322425 ns/op	      3000 appends/s	   56196 B/op	     744 allocs/op
BenchmarkSQLiteStartUp/events=100000/adk-2           	       5	 400000000 ns/op	 300000000 first-get-ns	 290000000 get-warm-ns	    165536 heap-get-B	    122488 heap-open-B	  90000000 migrate-ns	 100000000 open-ns	 1494661 B/op	   18522 allocs/op
BenchmarkSQLiteStartUp/events=100000/sessionlog-2    	       5	  20000000 ns/op	  15000000 first-get-ns	     10000 get-warm-ns	    293376 heap-get-B	    107240 heap-open-B	   5000000 open-ns	  636656 B/op	    7441 allocs/op
`

// The SQLite table gives each row the ratio of sessionlog's time to the
// ADK's (for a throughput, the inverse of the ratio of appends/s) and
// checks it against 0.5; rows that did not run are left out.
func TestSQLiteTable(t *testing.T) {
	res, _ := parse(strings.NewReader(sqliteSample))
	if !hasPrefix(res, "SQLite") || hasPG(res) {
		t.Errorf("hasPrefix(SQLite), hasPG = %v, %v; want true, false", hasPrefix(res, "SQLite"), hasPG(res))
	}
	got := sqliteTable(res)
	for _, line := range []string{
		"| append, 1 writer | 1.30 ms | 1.00 ms | 0.769 | no |",
		"| append, 1 writer, both synchronous=NORMAL | 600 µs | 100 µs | 0.167 | yes |",
		"| append, 16 writers | 300 appends/s | 3000 appends/s | 0.100 | yes |",
		"| open and first Get (100 events), over 100,000 events | 400 ms | 20.0 ms | 0.050 | yes |",
		"| of which the ADK's AutoMigrate, over 100,000 events | 90.0 ms | n/a | n/a | — |",
		"| Go heap added by the open, over 100,000 events | 120 KiB | 105 KiB | 0.876 | no |",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("table lacks %q:\n%s", line, got)
		}
	}
	for _, absent := range []string{"the driver's defaults", "16 writers, both synchronous=NORMAL", "Get of a 10,000-event session", "over 1,000,000 events"} {
		if strings.Contains(got, absent) {
			t.Errorf("table has a row for %q, which did not run:\n%s", absent, got)
		}
	}
}
