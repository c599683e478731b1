#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

/* Exported by libslurm but not declared in slurm.h (22.05). */
extern char *slurm_job_reason_string(int inx);
