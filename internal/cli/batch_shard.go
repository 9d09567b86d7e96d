package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// shardSel is the share of a batch one process runs: jobs whose index i has
// i mod Count == Index.
type shardSel struct {
	Index, Count int
	Source       string // where the selection came from: "--shard", "slurm", "kubernetes" or "" (all jobs)
}

func (s shardSel) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// owns reports whether job number i (0-based) belongs to this shard. Round robin by
// job index keeps the assignment stable when jobs are appended to the file and
// spreads neighbouring (often similar-sized) jobs over all shards.
func (s shardSel) owns(i int) bool { return i%s.Count == s.Index }

// parseShard parses "i/N" with 0 <= i < N.
func parseShard(v string) (shardSel, error) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return shardSel{}, fmt.Errorf("--shard %q: want INDEX/COUNT, e.g. 0/4", v)
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return shardSel{}, fmt.Errorf("--shard %q: want INDEX/COUNT with 0 <= INDEX < COUNT", v)
	}
	return shardSel{Index: i, Count: n, Source: "--shard"}, nil
}

// Environment variables that select a shard when --shard is not given.
const (
	envSlurmID    = "SLURM_ARRAY_TASK_ID"
	envSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	envSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	envSlurmStep  = "SLURM_ARRAY_TASK_STEP"
	envK8sIndex   = "JOB_COMPLETION_INDEX" // Kubernetes Indexed Job
	envShards     = "REFIT_SHARDS"         // the count for JOB_COMPLETION_INDEX (Kubernetes does not export it)
)

// selectShard picks the shard from the --shard flag, then a Slurm array task, then a
// Kubernetes Indexed Job, else every job (0/1). count (--shards, 0 if unset) overrides
// the count the environment gives.
func selectShard(flag string, count int, getenv func(string) string) (shardSel, error) {
	if flag != "" {
		if count != 0 {
			return shardSel{}, errors.New("--shard INDEX/COUNT and --shards do not go together")
		}
		return parseShard(flag)
	}
	num := func(name string, def int) (int, error) {
		v := getenv(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, v)
		}
		return n, nil
	}
	var sel shardSel
	switch {
	case getenv(envSlurmID) != "":
		id, err := num(envSlurmID, 0)
		if err != nil {
			return sel, err
		}
		min, err := num(envSlurmMin, 0)
		if err != nil {
			return sel, err
		}
		step, err := num(envSlurmStep, 1)
		if err != nil {
			return sel, err
		}
		n, err := num(envSlurmCount, 0)
		if err != nil {
			return sel, err
		}
		if step == 0 || id < min || (id-min)%step != 0 {
			return sel, fmt.Errorf("%s=%d does not fit %s=%d and %s=%d", envSlurmID, id, envSlurmMin, min, envSlurmStep, step)
		}
		sel = shardSel{Index: (id - min) / step, Count: n, Source: "slurm"}
	case getenv(envK8sIndex) != "":
		i, err := num(envK8sIndex, 0)
		if err != nil {
			return sel, err
		}
		n, err := num(envShards, 0)
		if err != nil {
			return sel, err
		}
		sel = shardSel{Index: i, Count: n, Source: "kubernetes"}
	default:
		if count != 0 {
			return sel, errors.New("--shards needs a shard index: --shard, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
		}
		return shardSel{Index: 0, Count: 1}, nil
	}
	if count != 0 {
		sel.Count = count
	}
	if sel.Count < 1 {
		return sel, fmt.Errorf("%s run: the shard count is unknown; set --shards N (or %s)", sel.Source, envShards)
	}
	if sel.Index >= sel.Count {
		return sel, fmt.Errorf("%s run: shard index %d is not below the count %d", sel.Source, sel.Index, sel.Count)
	}
	return sel, nil
}
