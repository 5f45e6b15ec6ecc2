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
