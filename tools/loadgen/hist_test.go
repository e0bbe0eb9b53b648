package main

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= histExact && float64(hi-lo) > float64(lo)/histSub+1 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d", i, lo, hi, histSub)
		}
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucket %d out of range", i)
		}
	}
	// Consecutive buckets tile the line.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d (hi %d) and %d (lo %d)", i-1, prevHi, i, lo)
		}
	}
}

func TestQuantilesMatchSortedSamples(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform small", func(r *rand.Rand) int64 { return r.Int64N(100) }},
		{"uniform ms", func(r *rand.Rand) int64 { return 1000 + r.Int64N(50_000) }},
		{"long tail", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 2000) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			var xs []int64
			for range 20_000 {
				v := tc.gen(r)
				h.Record(v)
				xs = append(xs, v)
			}
			slices.Sort(xs)
			for _, q := range []float64{0.5, 0.95, 0.99, 0.999, 1} {
				want := xs[int(q*float64(len(xs)))-1]
				got := h.Quantile(q)
				if diff := float64(got - want); diff < 0 || diff > float64(want)/histSub+1 {
					t.Errorf("q%.3f = %d, sorted samples say %d", q, got, want)
				}
			}
			if h.Max() != xs[len(xs)-1] || h.Count() != uint64(len(xs)) {
				t.Errorf("max %d count %d, want %d %d", h.Max(), h.Count(), xs[len(xs)-1], len(xs))
			}
		})
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5)
	h.Record(7)
	if h.Quantile(0.5) != 0 || h.Quantile(1) != 7 {
		t.Fatalf("p50 %d p100 %d", h.Quantile(0.5), h.Quantile(1))
	}
	var o Histogram
	o.Record(1_000_000)
	h.Merge(&o)
	if h.Count() != 3 || h.Max() != 1_000_000 {
		t.Fatalf("after merge: count %d max %d", h.Count(), h.Max())
	}
	s := h.SummaryMS()
	if s.Max != 1000 || s.Count != 3 {
		t.Fatalf("summary %+v", s)
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(int64(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 7999 {
		t.Fatalf("count %d max %d", h.Count(), h.Max())
	}
}
