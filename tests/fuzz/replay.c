/*
 * tests/fuzz/replay.c — a main() for the fuzz targets when they are built
 * without libFuzzer (gcc, the normal test run): every file named on the
 * command line, and every file inside a directory named (sorted, not
 * recursive), is fed once to LLVMFuzzerTestOneInput, in a malloc'd buffer
 * of its exact size so that ASan sees any read past its end. Finding no
 * input at all is a failure (a corpus that went missing must not pass).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	/* exact size: an overread lands outside the allocation */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	size_t done = 0;
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) == 0)
				done++;
			else
				bad = 1;
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[i], &ents, NULL, cmp);
		if (n < 0) {
			fprintf(stderr, "replay: cannot list %s\n", argv[i]);
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
			if (ents[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(path) == 0)
					done++;
				else
					bad = 1;
			}
			free(ents[k]);
		}
		free(ents);
	}
	printf("replayed %zu inputs\n", done);
	if (done == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	return bad;
}
