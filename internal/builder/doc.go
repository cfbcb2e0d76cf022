// Package builder is berth's classic Dockerfile builder: POST /build
// with version=1, what `docker build` uses with DOCKER_BUILDKIT=0. Its
// output, history text and cache behaviour follow dockerd's classic
// builder (moby builder/dockerfile); the Dockerfile is parsed with
// buildkit's parser and instructions packages.
//
// # Flow
//
//	Build(ctx, contextTar, opts, out)
//	  SanitizeTags           -t values validated before any work (the router's check)
//	  buildctx.ExtractMem    context tar -> <MemDir>/ctx-*/context-* (the build's own
//	                         tmpfs, unmounted when it ends; moved to
//	                         <TmpDir>/context-* past MemMax), .dockerignore applied,
//	                         every file's digest computed as it is written
//	  planBuild              parse (escape/syntax directives, heredocs), meta ARGs,
//	                         --label as LABEL steps on the target, target stage,
//	                         the stages it needs (FROM <stage>, COPY --from=<stage|index>,
//	                         transitively); the rest is never built
//	  for each needed stage, in file order:
//	    FROM                 earlier stage | scratch | local image (never pulled)
//	    ONBUILD triggers     of the base, dispatched right after FROM
//	    each instruction:    expand words (ENV + declared ARGs), then
//	      metadata (ENV LABEL CMD ENTRYPOINT EXPOSE VOLUME USER SHELL STOPSIGNAL
//	                HEALTHCHECK ONBUILD ARG MAINTAINER)  -> Backend.CommitConfig (empty layer)
//	      WORKDIR           -> WorkLayer: mkdir, Commit
//	      COPY / ADD        -> buildctx.Resolve + Checksum; WorkLayer: buildctx.Copy, Commit
//	                           (owners 0:0 or --chown; COPY --from without --chown
//	                           keeps the source's, as dockerd)
//	      RUN               -> Backend.Run (the stage's VOLUMEs are anonymous volumes:
//	                           writes there are not committed, as in dockerd);
//	                           CommitContainer; RemoveContainer (rm / forcerm; its volumes too)
//	  Aux(ID), "Successfully built <id12>", Backend.Tag + "Successfully tagged <ref>"
//	  on failure: the images this build made are removed, newest first, through
//	  the optional ImageRemover (kept with rm=false, or while tagged, parents or
//	  used, e.g. by the failed RUN's container, which stays unless forcerm)
//
// Every step prints dockerd's "Step n/N : <instruction>" and ends with
// " ---> <id12>"; RUN adds " ---> Running in <id12>", its output and
// "Removing intermediate container <id12>". With opts.Quiet the stream
// is held back and a successful build prints only its image ID; a
// failed one flushes what was held.
//
// Two deliberate differences from dockerd 20.10: steps that need no
// container (metadata, WORKDIR, COPY, ADD) print no "Running in" and
// "Removing intermediate container" lines, since none exists; and
// stages the target does not need are skipped (as BuildKit does), so
// "Step n/N" counts only the stages built.
//
// # Cache
//
// Each step's image is remembered in the Cache under
//
//	key = sha256(json{version, parent image ID, history text, resulting config, author})
//
// The history text is what `docker history` shows and dockerd's cache
// compares: "/bin/sh -c #(nop)  ENV A=b" after expansion; for RUN the
// command with the build args it sees ("|2 A=1 B=2 /bin/sh -c make");
// for COPY/ADD "#(nop) COPY --chown=u --chmod=m file:<digest> in /dest "
// where the digest is buildctx.Checksum of the sources (paths, modes,
// link targets, contents). So a changed source file changes its COPY's
// key and, through the parent ID, every key after it, and none before.
// A hit is used only if the image still exists (Backend.Image); it
// prints " ---> Using cache" and costs no container, mount or copy. The
// first miss in a stage stops lookups for the rest of the stage, as in
// dockerd. opts.NoCache skips lookups but still records results.
//
// cachefrom (light): when images are given, a hit counts only if the
// cached image is one of them or an ancestor (its history and layers a
// prefix of theirs), or if a given image is itself exactly the step's
// result (one more history entry with the same text and config).
//
// The package holds no state between builds beyond the Cache.
package builder
