#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
