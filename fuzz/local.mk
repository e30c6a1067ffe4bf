# fuzz/: libFuzzer targets (issue 10).  A target is one file, fuzz/fuzz_NAME.c,
# defining LLVMFuzzerTestOneInput; its seed corpus is fuzz/corpus/NAME/.
#
# FUZZ_TARGETS is the only list: the build, "make fuzz", the replay tests of
# "make check" and the tarball all follow it.  To add a target, write
# fuzz/fuzz_NAME.c and fuzz/corpus/NAME/ and add one word here (the listing
# scanner's target is fuzz/fuzz_scan).
FUZZ_TARGETS = fuzz/fuzz_records fuzz/fuzz_index fuzz/fuzz_cache fuzz/fuzz_config fuzz/fuzz_scan fuzz/fuzz_snapshot

# How a target is linked.  Automake allows per-program settings only by name,
# so the targets use the defaults (no fuzz_NAME_SOURCES: the source is
# fuzz/fuzz_NAME.c; no fuzz_NAME_LDADD: LDADD below).  Every other program in
# the tree names its own _LDADD and is not affected.
#   --enable-fuzzing: libFuzzer's main (-fsanitize=fuzzer, FUZZ_LDFLAGS);
#   otherwise: fuzz/replay.c's main, which feeds the files it is given to the
#   target, so "make check" replays every corpus with the ordinary compiler.
check_LTLIBRARIES += fuzz/libfuzzsupport.la
fuzz_libfuzzsupport_la_SOURCES = fuzz/fuzz.h nss_scim/pack.c nss_scim/buf.c
LDADD = fuzz/libfuzzsupport.la libscimrefresh.la libscimcache.la libscimsnap.la $(TDB_LIBS) $(JSONC_LIBS) -lpthread
if FUZZING
LDADD += $(FUZZ_LDFLAGS)
else
check_LTLIBRARIES += fuzz/libfuzzreplay.la
fuzz_libfuzzreplay_la_SOURCES = fuzz/replay.c
LDADD += fuzz/libfuzzreplay.la
endif
check_PROGRAMS += $(FUZZ_TARGETS)

# A target may have a libFuzzer dictionary, fuzz/fuzz_NAME.dict: make fuzz
# passes it and the tarball takes it.
dist-hook: dist-fuzz-dicts
dist-fuzz-dicts:
	for f in $(srcdir)/fuzz/*.dict; do \
		if test -f "$$f"; then cp -p "$$f" $(distdir)/fuzz/ || exit 1; fi; \
	done
.PHONY: dist-fuzz-dicts

# make check: one test per target, replaying fuzz/corpus/NAME/ (replay.c finds
# it from $top_srcdir and its own name).  A fuzzing build cannot replay this
# way (libFuzzer's main would fuzz for ever): there, "make fuzz".
if !FUZZING
TESTS += $(FUZZ_TARGETS)
endif

# make fuzz: each target for FUZZ_SECONDS over a copy of its corpus, in
# fuzz-out/NAME/ (the grown corpus, the log, and crashes/ with any input that
# crashed or hung); fails if any target failed.  FUZZ_FLAGS goes to libFuzzer.
FUZZ_SECONDS = 60
FUZZ_FLAGS =
if FUZZING
fuzz: $(FUZZ_TARGETS)
	FUZZ_FLAGS='$(FUZZ_FLAGS)' $(SHELL) $(srcdir)/fuzz/run.sh $(FUZZ_SECONDS) fuzz-out $(srcdir) $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: configure with --enable-fuzzing (clang) first; see fuzz/README" >&2; exit 1
endif
.PHONY: fuzz

EXTRA_DIST += fuzz/README fuzz/run.sh fuzz/mkcorpus.py fuzz/corpus
clean-local: clean-fuzz
clean-fuzz:
	rm -rf fuzz-out
.PHONY: clean-fuzz
