#!/usr/bin/env Rscript
# lavaan 0.6-14 reference results for lavaan's own regression harness (github
# lucdw/lavaan-check, 93 tests), read from the manifest cases.json and the CSVs in
# $LAVAAN_CHECK_DATA (default /work/shared/reference/lavaan-check).
#
# Writes one JSON per test into this folder (<test>.json) and _index.json (lavaan and R
# versions, md5 of cases.json and of every CSV, one line per test). Read by
# scripts/lavaan_check.py, which runs the same tests through asymtrust.
#
#   Rscript tests/reference/lavaan-check/run_lavaan_check.R            # every test
#   Rscript tests/reference/lavaan-check/run_lavaan_check.R HS_cov ... # some tests
#
# Needs R with lavaan 0.6-14, jsonlite and digest. What each kind of test stores:
#   analysis  sem()/cfa() on the manifest's arguments: parTable rows (est, se), all of
#             fitMeasures(), nobs/ntotal, converged, iterations, resolved options, warnings;
#   efa       efa(data, nfactors=): per number of factors the same, plus the rotated
#             loadings and factor correlations;
#   parse     the harness runs lavParseModelString(); we store that, and the parTable of
#             sem(model, do.fit = FALSE) on synthetic data that has the model's observed
#             variables (groups, ordered variables and clusters as the model needs them),
#             with npar and df (lavaan's df: ndat - npar after equality constraints);
#   any test  the error message if lavaan stops, and every warning it raises.
# Harness notes: `parser = "new"` is not a 0.6-14 argument and is not in the manifest;
# `lav_getcov` is `getCov` in 0.6-14; sample.cov CSVs are unbiased (N-1) matrices.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
  library(digest)
})

script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])
out_dir <- Sys.getenv("LAVAAN_CHECK_OUT",
                      if (is.na(script_path)) "." else dirname(normalizePath(script_path)))
data_dir <- Sys.getenv("LAVAAN_CHECK_DATA", "/work/shared/reference/lavaan-check")
only <- commandArgs(trailingOnly = TRUE)
stopifnot(file.exists(file.path(data_dir, "cases.json")))
if (as.character(packageVersion("lavaan")) != "0.6.14")
  warning("lavaan ", packageVersion("lavaan"), " installed: the references are for 0.6-14")

cases <- fromJSON(file.path(data_dir, "cases.json"), simplifyVector = FALSE)
lavaan_version <- as.character(packageVersion("lavaan"))
r_version <- R.version.string
SEED <- 20240611L  # before every call (bootstrap SEs, synthetic data)

# ------------------------------------------------------------------ JSON writing
# Tables are {"columns": [...], "rows": [[...], ...]} with one row per line; numbers with
# 15 significant digits; NA/NaN/Inf as null.
js <- function(x) as.character(toJSON(x, auto_unbox = TRUE, digits = NA, na = "null",
                                      null = "null", force = TRUE))
tbl <- function(df) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  rows <- vapply(seq_len(nrow(df)), function(i) {
    js(unname(lapply(df[i, , drop = FALSE], function(v) {
      v <- v[[1]]
      if (is.factor(v)) v <- as.character(v)
      if (is.numeric(v) && !is.finite(v)) NA else v
    })))
  }, "")
  structure(list(columns = names(df), rows = rows), class = "tbl")
}
mat <- function(m) {  # a labelled matrix
  m <- unclass(as.matrix(m))
  structure(list(rownames = rownames(m), colnames = colnames(m),
                 rows = lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))), class = "mat")
}
value_json <- function(v, indent) {
  if (inherits(v, "tbl")) {
    pad <- strrep(" ", indent + 2)
    body <- if (length(v$rows)) paste0(pad, "  ", v$rows, collapse = ",\n") else ""
    return(paste0("{\"columns\": ", js(v$columns), ", \"rows\": [\n", body,
                  if (length(v$rows)) "\n" else "", pad, "]}"))
  }
  if (inherits(v, "mat")) {
    pad <- strrep(" ", indent + 2)
    rows <- vapply(v$rows, function(r) js(lapply(r, function(z) if (is.finite(z)) z else NA)), "")
    return(paste0("{\"rownames\": ", js(I(v$rownames)), ", \"colnames\": ", js(I(v$colnames)),
                  ", \"rows\": [\n", paste0(pad, "  ", rows, collapse = ",\n"), "\n", pad, "]}"))
  }
  if (is.list(v) && !is.null(names(v)) && length(v) &&
      any(vapply(v, function(z) inherits(z, c("tbl", "mat")) || (is.list(z) && !is.null(names(z))), TRUE)))
    return(obj_json(v, indent + 2))
  if (is.numeric(v) && any(!is.finite(v))) v[!is.finite(v)] <- NA  # keeps I()
  js(v)
}
obj_json <- function(x, indent = 0) {
  pad <- strrep(" ", indent + 2)
  items <- vapply(names(x), function(k) paste0(pad, js(k), ": ", value_json(x[[k]], indent)), "")
  paste0("{\n", paste(items, collapse = ",\n"), "\n", strrep(" ", indent), "}")
}
write_json_file <- function(x, path) writeLines(obj_json(x), path, useBytes = TRUE)

# ------------------------------------------------------------------ running lavaan
# Run f(); return its value (or the error message) and every warning raised.
capture <- function(f) {
  ws <- character(0)
  val <- tryCatch(
    withCallingHandlers(f(), warning = function(w) {
      ws <<- c(ws, conditionMessage(w))
      invokeRestart("muffleWarning")
    }),
    error = function(e) structure(list(message = conditionMessage(e)), class = "lav_error"))
  list(value = val, warnings = unique(trimws(ws)), error = if (inherits(val, "lav_error")) trimws(val$message))
}

csv_path <- function(name) file.path(data_dir, name)
read_data <- function(name) read.csv(csv_path(name), check.names = FALSE, stringsAsFactors = FALSE)
read_cov <- function(name) {
  d <- read_data(name)
  m <- as.matrix(d[, -1]); rownames(m) <- d[[1]]; colnames(m) <- names(d)[-1]
  m
}
read_mean <- function(name) { d <- read_data(name); setNames(d[[2]], d[[1]]) }

# The manifest's arguments as lavaan takes them; the CSVs each used (for their md5).
lavaan_args <- function(a) {
  used <- character(0)
  out <- list()
  for (k in names(a)) {
    v <- a[[k]]
    if (k == "data") { used <- c(used, v$csv); v <- read_data(v$csv) }
    else if (k == "sample.cov") {
      used <- c(used, unlist(v))
      v <- if (length(v) > 1) lapply(v, read_cov) else read_cov(v[[1]])
    } else if (k == "sample.mean") {
      used <- c(used, unlist(v))
      v <- if (length(v) > 1) lapply(v, read_mean) else read_mean(v[[1]])
    } else if (k %in% c("sample.nobs", "nfactors", "ordered", "sample.cov.groups")) v <- unlist(v)
    else if (k == "parser") next  # not a lavaan 0.6-14 argument
    if (k == "sample.cov.groups") next  # not a 0.6-14 argument: the names of the sample.cov list
    out[[k]] <- v
  }
  if (!is.null(a$sample.cov.groups)) {
    g <- unlist(a$sample.cov.groups)
    if (is.list(out$sample.cov)) names(out$sample.cov) <- g
    if (is.list(out$sample.mean)) names(out$sample.mean) <- g
    if (length(out$sample.nobs) > 1) out$sample.nobs <- as.list(setNames(out$sample.nobs, g))
  }
  list(args = out, csv = unique(used))
}

num <- function(x) if (is.null(x)) NA else as.numeric(x)

partable_tbl <- function(pt, extra = c("est", "se")) {
  cols <- c("id", "lhs", "op", "rhs", "user", "block", "group", "level", "free", "ustart", "exo",
            "label", "plabel", extra)
  tbl(pt[, intersect(cols, names(pt)), drop = FALSE])
}

# npar as fitMeasures() counts it (free parameters minus the rank of the equality
# constraints) and df = ndat - npar, also for an unfitted object.
npar_df <- function(fit) {
  npar <- lavaan:::lav_utils_get_npar(fit)
  ndat <- lavaan:::lav_partable_ndat(parTable(fit))
  list(npar = npar, df = ndat - npar, ndat = ndat)
}

options_of <- function(fit) {
  o <- lavInspect(fit, "options")
  keep <- c("estimator", "se", "test", "information", "missing", "meanstructure", "fixed.x",
            "likelihood", "std.lv", "int.ov.free", "int.lv.free", "auto.cov.y", "rotation", "bootstrap")
  lapply(o[intersect(keep, names(o))], function(v) if (length(v) > 1) I(v) else v)
}

fit_result <- function(fit) {
  out <- list()
  out$partable <- partable_tbl(parTable(fit))
  nd <- npar_df(fit)
  out$npar <- nd$npar
  out$df_from_table <- nd$df
  fm <- tryCatch(fitMeasures(fit), error = function(e) NULL)
  out$fit_measures <- if (is.null(fm)) NULL else as.list(unclass(fm))
  out$fit_measures_error <- if (is.null(fm)) tryCatch({fitMeasures(fit); NULL}, error = function(e) trimws(conditionMessage(e)))
  out$nobs <- I(as.integer(lavInspect(fit, "nobs")))
  out$ntotal <- as.integer(lavInspect(fit, "ntotal"))
  out$norig <- I(as.integer(lavInspect(fit, "norig")))
  out$group_labels <- I(as.character(lavInspect(fit, "group.label")))
  out$converged <- isTRUE(lavInspect(fit, "converged"))
  out$iterations <- as.integer(lavInspect(fit, "iterations"))
  out$options <- options_of(fit)
  out
}

run_analysis <- function(cs) {
  la <- lavaan_args(cs$args)
  set.seed(SEED)
  # by name: lavaan reads the function's name from match.call()
  r <- capture(function() do.call(cs$call, c(list(model = cs$model), la$args), envir = asNamespace("lavaan")))
  out <- list(csv = I(la$csv), warnings = I(r$warnings), error = r$error)
  if (is.null(r$error)) out <- c(out, fit_result(r$value))
  out
}

run_efa <- function(cs) {
  la <- lavaan_args(cs$args)
  set.seed(SEED)
  r <- capture(function() do.call("efa", la$args, envir = asNamespace("lavaan")))
  out <- list(csv = I(la$csv), warnings = I(r$warnings), error = r$error)
  if (is.null(r$error)) {
    fits <- r$value
    if (inherits(fits, "lavaan")) fits <- setNames(list(fits), paste0("nf", la$args$nfactors[1]))
    fits <- fits[vapply(fits, inherits, TRUE, "lavaan")]
    out$ov_names <- I(lavNames(fits[[1]], "ov"))
    out$fits <- lapply(fits, function(f) {
      est <- lavInspect(f, "est")
      c(list(nfactors = ncol(est$lambda), loadings = mat(est$lambda), factor_cor = mat(est$psi),
             residual_var = as.list(diag(est$theta))), fit_result(f))
    })
  }
  out
}

# --- parse tests: synthetic data with the model's observed variables
n_modifier <- function(x) {  # number of elements of each ';'-joined modifier vector
  x <- as.character(x)
  ifelse(is.na(x) | !nzchar(x), 1L, lengths(strsplit(x, ";", fixed = TRUE)))
}

parse_setup <- function(model) {
  flat <- lavParseModelString(model, as.data.frame. = TRUE, warn = FALSE)
  mods <- intersect(c("fixed", "start", "lower", "upper", "label", "prior", "efa", "rv"), names(flat))
  ng_mod <- max(1L, unlist(lapply(mods, function(cl) n_modifier(flat[[cl]]))))
  blocks <- flat[flat$op == ":", c("lhs", "rhs"), drop = FALSE]
  glabels <- unique(blocks$rhs[tolower(blocks$lhs) == "group"])
  twolevel <- any(tolower(blocks$lhs) == "level")
  ng <- max(ng_mod, length(glabels))
  if (length(glabels) < ng) glabels <- as.character(seq_len(ng))
  pt0 <- lavaanify(model, ngroups = ng, warn = FALSE)
  ov <- as.character(unique(lavNames(pt0, "ov")))
  ov <- ov[!grepl(":", ov, fixed = TRUE)]  # x:z interaction terms are products lavaan forms
  ord <- as.character(unique(lavNames(pt0, "ov.ord")))
  th <- pt0[pt0$op == "|" & pt0$block == 1L, , drop = FALSE]
  ncat <- vapply(ord, function(v) sum(th$lhs == v) + 1L, 1L)
  list(ngroups = ng, group_labels = glabels, twolevel = twolevel, observed = ov,
       ordered = ord, ncat = ncat)
}

synthetic_data <- function(s) {
  set.seed(SEED)
  p <- length(s$observed)
  n_g <- max(200L, 4L * p)
  n <- n_g * s$ngroups
  common <- rnorm(n)
  X <- sapply(seq_len(p), function(j) 0.6 * common + rnorm(n))
  if (s$twolevel) {  # 20 clusters per group with a between-cluster part
    cl <- rep(seq_len(n / 10), each = 10)
    X <- X + sapply(seq_len(p), function(j) rnorm(n / 10)[cl])
  }
  X <- matrix(X, nrow = n)
  d <- as.data.frame(X); names(d) <- s$observed
  for (v in s$ordered) {
    k <- s$ncat[[v]]
    d[[v]] <- as.integer(cut(d[[v]], quantile(d[[v]], seq(0, 1, length.out = k + 1)),
                             include.lowest = TRUE))
  }
  if (s$ngroups > 1) d$g <- rep(s$group_labels, each = n_g)
  if (s$twolevel) d$cl <- rep(seq_len(n / 10), each = 10)
  d
}

run_parse <- function(cs) {
  out <- list()
  # what the harness itself runs
  p <- capture(function() lavParseModelString(cs$model, as.data.frame. = TRUE))
  out$parse_error <- p$error
  out$parse_warnings <- I(p$warnings)
  if (is.null(p$error)) {
    flat <- p$value
    out$flat <- tbl(flat[, intersect(c("lhs", "op", "rhs", "mod.idx", "block", "fixed", "start",
                                       "lower", "upper", "label", "prior", "efa", "rv"),
                                     names(flat)), drop = FALSE])
  }
  # the parameter table of sem(model, do.fit = FALSE)
  s <- capture(function() parse_setup(cs$model))
  if (!is.null(s$error)) {
    out$error <- s$error
    out$warnings <- I(c(p$warnings, s$warnings))
    return(out)
  }
  s <- s$value
  out$setup <- list(observed = I(s$observed), ngroups = s$ngroups,
                    group_labels = I(if (s$ngroups > 1) s$group_labels else character(0)),
                    ordered = I(s$ordered), twolevel = s$twolevel,
                    call = paste0("sem(model, data, do.fit = FALSE",
                                  if (s$ngroups > 1) ", group = \"g\"" else "",
                                  if (s$twolevel) ", cluster = \"cl\"" else "",
                                  if (length(s$ordered)) ", ordered = <ov.ord>" else "", ")"))
  d <- synthetic_data(s)
  args <- list(model = cs$model, data = d, do.fit = FALSE)
  if (s$ngroups > 1) args$group <- "g"
  if (s$twolevel) args$cluster <- "cl"
  if (length(s$ordered)) args$ordered <- s$ordered
  set.seed(SEED)
  r <- capture(function() do.call("sem", args, envir = asNamespace("lavaan")))
  out$warnings <- I(r$warnings)
  out$error <- r$error
  if (is.null(r$error)) {
    fit <- r$value
    out$partable <- partable_tbl(parTable(fit), extra = character(0))
    nd <- npar_df(fit)
    out$npar <- nd$npar
    out$df <- nd$df
    out$ndat <- nd$ndat
    out$meanstructure <- isTRUE(lavInspect(fit, "options")$meanstructure)
  }
  out
}

# ------------------------------------------------------------------ main
md5 <- function(path) digest(file = path, algo = "md5")
csvs <- sort(list.files(data_dir, pattern = "\\.csv$"))
index_lines <- list()
for (cs in cases) {
  if (length(only) && !(cs$test %in% only)) next
  t0 <- proc.time()[["elapsed"]]
  res <- switch(cs$kind, analysis = run_analysis(cs), efa = run_efa(cs), parse = run_parse(cs))
  head <- list(test = cs$test, kind = cs$kind, call = cs$call, lavaan_stops_manifest = cs$lavaan_stops,
               comment = cs$comment, lavaan_version = lavaan_version, R_version = r_version,
               generated_by = "tests/reference/lavaan-check/run_lavaan_check.R", seed = SEED,
               model = cs$model,
               args = if (length(cs$args)) cs$args else setNames(list(), character(0)))
  res <- c(head, res)
  if (length(res$csv)) res$csv_md5 <- as.list(setNames(vapply(res$csv, function(f) md5(csv_path(f)), ""), res$csv))
  res <- res[!vapply(res, is.null, TRUE)]
  write_json_file(res, file.path(out_dir, paste0(cs$test, ".json")))
  status <- if (!is.null(res$error)) "error" else "ok"
  cat(sprintf("%-28s %-8s %-5s %5.1fs %s\n", cs$test, cs$kind, status,
              proc.time()[["elapsed"]] - t0, if (!is.null(res$error)) substr(res$error, 1, 90) else ""))
  index_lines[[cs$test]] <- list(kind = cs$kind, lavaan_stops_manifest = cs$lavaan_stops,
                                 error = !is.null(res$error), n_warnings = length(res$warnings))
}

if (!length(only)) {
  index <- list(lavaan_version = lavaan_version, R_version = r_version,
                generated_by = "tests/reference/lavaan-check/run_lavaan_check.R",
                data_dir = data_dir,
                cases_json_md5 = md5(file.path(data_dir, "cases.json")),
                csv_md5 = as.list(setNames(vapply(csvs, function(f) md5(csv_path(f)), ""), csvs)),
                tests = index_lines)
  write_json_file(index, file.path(out_dir, "_index.json"))
}
