// Package slurm holds the test of refit batch on a real Slurm cluster: it starts
// munged (with its own key), slurmctld and slurmd on localhost from Debian's
// slurm-wlm and munge packages, with every state and log file under a temporary
// folder, submits deploy/slurm/refit-array.sbatch as a 3-task array over a small
// model zoo, kills one task mid-job and resubmits, and checks that every output is
// byte-identical to a local run and that every job finished exactly once; then it
// quantizes one model as three parts in an array and joins them in a dependent job.
// TestSlurmArrayBatchS3 does the same with the zoo, the jobs file, the outputs and the
// manifests in a SeaweedFS S3 server (internal/testtool.StartS3).
//
// The package has no exported API. The test skips when the Slurm or munge programs
// (or SeaweedFS) are missing (apt-get install slurm-wlm munge), and fails then under
// REFIT_REQUIRE_TOOLS=1. It runs the daemons as the current user (root in CI).
package slurm
