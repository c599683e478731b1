#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <malloc.h> /* malloc_trim: give libslurm's freed poll answers back */

/* Exported by libslurm but not declared in slurm.h (22.05). */
extern char *slurm_job_reason_string(int inx);
