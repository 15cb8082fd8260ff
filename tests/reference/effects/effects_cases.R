# lavaan reference values for asymtrust.effects() (indirect, direct and total effects).
#
# For each model the structural (`~`) paths are labelled and every chain from an
# exogenous variable through one or more mediators to a terminal outcome is written as
# a `:=` definition -- enumerated here in R, independently of the Python code:
#   ind.<k>     one specific indirect effect (product of the path labels)
#   tind.<k>    total indirect effect of a (source, outcome) pair (sum of the products)
#   dir.<k>     the direct effect (only when the source -> outcome path exists)
#   tot.<k>     total effect (total indirect + direct)
# Only (source, outcome) pairs with at least one indirect chain are listed.
#
# Cases (one JSON each, next to this script):
#   fig1_bcf         specs/fig1.lav on datasets/bcf_synthetic.csv (reverse items recoded), ML
#   fig1_bcf_sector  the same, group = "sector" (effects per group)
#   pd               lavaan tutorial SEM on PoliticalDemocracy, ML
#   pd_boot          the same with se = "bootstrap", bootstrap = 1000 (set.seed(20240611)):
#                    bootstrap SEs of every free parameter and `:=` row, percentile and
#                    bias-corrected ("bca.simple") CIs
# Values: est, se (delta method), z, pvalue, ci (Wald), std.all and its SE
# (standardizedSolution), per `:=` row.
# Run from anywhere: Rscript tests/reference/effects/effects_cases.R
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
REF_DIR <- script_dir()
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", ".."))
SCRIPT <- "tests/reference/effects/effects_cases.R"
file_sha256 <- function(path) digest::digest(file = path, algo = "sha256")

strip_comments <- function(lines) trimws(sub("#.*$", "", lines))
is_regression <- function(line) grepl("~", line) && !grepl("=~|~~|~1|:=", line)

# all directed paths (vectors of node names) from `from` to `to` along `edges`
all_paths <- function(edges, from, to) {
  out <- list()
  walk <- function(node, trail) {
    if (node == to) { out[[length(out) + 1L]] <<- trail; return(invisible()) }
    nxt <- edges$lhs[edges$rhs == node]
    for (n in nxt) if (!n %in% trail) walk(n, c(trail, n))
  }
  walk(from, from)
  out
}

# Rewrite `model` with labelled regressions and the `:=` effect definitions.
build_effects_model <- function(model, ngroups = 1L) {
  lines <- strip_comments(unlist(strsplit(model, "\n")))
  lines <- lines[nzchar(lines)]
  reg <- lines[vapply(lines, is_regression, logical(1))]
  keep <- lines[!vapply(lines, is_regression, logical(1))]
  edges <- do.call(rbind, lapply(reg, function(l) {
    lhs <- trimws(sub("~.*$", "", l))
    rhs <- trimws(unlist(strsplit(sub("^[^~]*~", "", l), "+", fixed = TRUE)))
    data.frame(lhs = lhs, rhs = rhs, stringsAsFactors = FALSE)
  }))
  lab <- function(lhs, rhs) paste0("p_", lhs, "_", rhs)
  glab <- function(l, g) if (ngroups == 1L) l else paste0(l, "_g", g)
  reg_lines <- vapply(unique(edges$lhs), function(y) {
    e <- edges[edges$lhs == y, ]
    terms <- vapply(seq_len(nrow(e)), function(i) {
      l <- lab(e$lhs[i], e$rhs[i])
      pre <- if (ngroups == 1L) l else
        paste0("c(", paste(vapply(seq_len(ngroups), function(g) glab(l, g), ""), collapse = ","), ")")
      paste0(pre, "*", e$rhs[i])
    }, "")
    paste(y, "~", paste(terms, collapse = " + "))
  }, "")
  nodes <- unique(c(edges$lhs, edges$rhs))
  sources <- nodes[!nodes %in% edges$lhs]
  outcomes <- nodes[!nodes %in% edges$rhs]
  defs <- list()
  k <- 0L
  for (g in seq_len(ngroups)) for (s in sources) for (o in outcomes) {
    paths <- all_paths(edges, s, o)
    ind <- Filter(function(p) length(p) > 2L, paths)
    if (length(ind) == 0L) next
    direct <- Filter(function(p) length(p) == 2L, paths)
    prods <- vapply(ind, function(p) {
      paste(vapply(seq_len(length(p) - 1L), function(i) glab(lab(p[i + 1L], p[i]), g), ""),
            collapse = "*")
    }, "")
    k <- k + 1L
    add <- function(kind, name, expr, path) {
      defs[[length(defs) + 1L]] <<- list(name = name, expr = expr, effect = kind,
                                        source = s, target = o, group = g, path = path)
    }
    for (i in seq_along(ind))
      add("indirect", sprintf("ind.%d.%d", k, i), prods[i], paste(ind[[i]], collapse = " -> "))
    tind <- paste(prods, collapse = " + ")
    add("total_indirect", sprintf("tind.%d", k), tind, paste(s, "->", o))
    tot <- tind
    if (length(direct)) {
      d <- glab(lab(o, s), g)
      add("direct", sprintf("dir.%d", k), d, paste(s, "->", o))
      tot <- paste(tind, "+", d)
    }
    add("total", sprintf("tot.%d", k), tot, paste(s, "->", o))
  }
  def_lines <- vapply(defs, function(d) paste(d$name, ":=", d$expr), "")
  list(model = paste(c(keep, reg_lines, def_lines), collapse = "\n"), defs = defs)
}

effect_rows <- function(fit, defs) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  ss <- standardizedSolution(fit, type = "std.all")
  rows <- lapply(defs, function(d) {
    i <- which(pe$op == ":=" & pe$lhs == d$name)
    j <- which(ss$op == ":=" & ss$lhs == d$name)
    stopifnot(length(i) == 1L, length(j) == 1L)
    list(name = d$name, definition = d$expr, effect = d$effect, source = d$source,
         target = d$target, path = d$path, group = d$group,
         est = pe$est[i], se = pe$se[i], z = pe$z[i], pvalue = pe$pvalue[i],
         ci_lower = pe$ci.lower[i], ci_upper = pe$ci.upper[i],
         std_all = pe$std.all[i], std_all_se = ss$se[j])
  })
  rows
}

write_json_case <- function(rec) {
  path <- file.path(REF_DIR, paste0(rec$case, ".json"))
  txt <- toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                dataframe = "rows", pretty = TRUE)
  writeLines(txt, path, useBytes = TRUE)
  message("wrote ", basename(path))
}

base_record <- function(case, fit, model, data_file, extra = list()) {
  c(list(case = case,
         lavaan_version = as.character(packageVersion("lavaan")),
         R_version = R.version.string,
         generated_by = SCRIPT,
         data_name = basename(data_file),
         data_sha256 = file_sha256(data_file),
         model = model,
         nobs = lavInspect(fit, "ntotal"),
         group_labels = I(lavInspect(fit, "group.label")),
         converged = lavInspect(fit, "converged"),
         chisq = unname(fitMeasures(fit, "chisq"))), extra)
}

# --- fig1 on bcf_synthetic -------------------------------------------------------------
REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
bcf_file <- file.path(REPO_ROOT, "datasets", "bcf_synthetic.csv")
spec_file <- file.path(REPO_ROOT, "specs", "fig1.lav")
BCF <- read.csv(bcf_file)
for (v in REVERSE) BCF[[v]] <- 8 - BCF[[v]]
FIG1 <- paste(readLines(spec_file), collapse = "\n")
prep <- list(recode_reverse = I(REVERSE), spec = "fig1", spec_sha256 = file_sha256(spec_file))

m <- build_effects_model(FIG1)
fit <- sem(m$model, data = BCF)
write_json_case(c(base_record("fig1_bcf", fit, m$model, bcf_file, prep),
                  list(fit_args = list(estimator = "ML"), effects = effect_rows(fit, m$defs))))

m <- build_effects_model(FIG1, ngroups = 3L)
fit <- sem(m$model, data = BCF, group = "sector")
write_json_case(c(base_record("fig1_bcf_sector", fit, m$model, bcf_file, prep),
                  list(fit_args = list(estimator = "ML", group = "sector"),
                       effects = effect_rows(fit, m$defs))))

# --- PoliticalDemocracy ---------------------------------------------------------------------
pd_file <- file.path(REPO_ROOT, "datasets", "poldem.csv")
PD <- read.csv(pd_file)
PD_MODEL <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"
m <- build_effects_model(PD_MODEL)
fit <- sem(m$model, data = PD)
write_json_case(c(base_record("pd", fit, m$model, pd_file, list(spec_model = PD_MODEL)),
                  list(fit_args = list(estimator = "ML"), effects = effect_rows(fit, m$defs))))

# --- PoliticalDemocracy, bootstrap SEs --------------------------------------------------------
set.seed(20240611)
B <- 1000L
fitb <- sem(m$model, data = PD, se = "bootstrap", bootstrap = B)
boot <- lavInspect(fitb, "boot")
nfail <- length(attr(boot, "error.idx"))
pe_perc <- parameterEstimates(fitb, boot.ci.type = "perc")
pe_bc <- parameterEstimates(fitb, boot.ci.type = "bca.simple")
params <- data.frame(lhs = pe_perc$lhs, op = pe_perc$op, rhs = pe_perc$rhs, label = pe_perc$label,
                     est = pe_perc$est, se = pe_perc$se,
                     ci_lower_perc = pe_perc$ci.lower, ci_upper_perc = pe_perc$ci.upper,
                     ci_lower_bc = pe_bc$ci.lower, ci_upper_bc = pe_bc$ci.upper,
                     stringsAsFactors = FALSE)
write_json_case(c(base_record("pd_boot", fitb, m$model, pd_file, list(spec_model = PD_MODEL)),
                  list(fit_args = list(estimator = "ML", se = "bootstrap", bootstrap = B),
                       seed = "set.seed(20240611) before sem()", bootstrap = B,
                       bootstrap_failed = nfail, parameters = params,
                       effect_names = I(vapply(m$defs, `[[`, "", "name")),
                       tolerance_note = paste("bootstrap SEs vary between runs: compare with a",
                                              "relative tolerance of Monte Carlo size"))))
