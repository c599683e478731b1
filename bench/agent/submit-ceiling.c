/*
 * libslurm's own submission rate (not a test): N held jobs through slurm_submit_batch_job from
 * T threads, the ceiling any client of slurmctld meets. Writes the job ids to IDS (cancel them).
 *
 *   cc -O2 -pthread -o submit-ceiling bench/agent/submit-ceiling.c -lslurm
 *   ./submit-ceiling N T IDS && xargs -r -n 500 scancel < IDS
 */
#include <slurm/slurm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static int total; static atomic_int next; static unsigned *ids;
static char *env[] = {"PATH=/usr/bin:/bin", NULL};
static void *worker(void *u) {
  (void)u;
  for (;;) {
    int i = atomic_fetch_add(&next, 1); if (i >= total) break;
    job_desc_msg_t d; slurm_init_job_desc_msg(&d);
    d.name = "dte-bench-submit-ceiling"; d.script = "#!/bin/sh\ntrue\n"; d.std_out = "/dev/null";
    d.work_dir = "/tmp"; d.priority = 0; d.min_nodes = 1; d.max_nodes = 1; d.num_tasks = 1;
    d.pn_min_memory = 16; d.user_id = getuid(); d.group_id = getgid(); d.environment = env; d.env_size = 1;
    submit_response_msg_t *r = NULL;
    if (slurm_submit_batch_job(&d, &r) == 0 && r) { ids[i] = r->job_id; slurm_free_submit_response_response_msg(r); }
    else fprintf(stderr, "submit failed: %s\n", slurm_strerror(slurm_get_errno()));
  }
  return NULL;
}
int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: submit-ceiling N THREADS IDS\n"); return 2; }
  total = atoi(argv[1]); int threads = atoi(argv[2]);
  if (total < 1 || total > 100000 || threads < 1 || threads > 64) { fprintf(stderr, "N 1-100000, THREADS 1-64\n"); return 2; }
  ids = calloc(total, sizeof *ids);
  if (!ids) return 2;
  slurm_init(NULL);
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64]; for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%d jobs, %d threads: %.2f s = %.0f jobs/s\n", total, threads, s, total / s);
  FILE *f = fopen(argv[3], "w"); if (!f) { perror(argv[3]); return 1; }
  for (int i = 0; i < total; i++)
    if (ids[i]) fprintf(f, "%u\n", ids[i]);
  fclose(f);
  return 0;
}
