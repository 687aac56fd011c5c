"""Kernels as SLURM jobs: a host's job settings, the jobs as the scheduler tells them, and the
use cases HostKernels delegates (submit, wait, cancel, list), their failures typed."""
