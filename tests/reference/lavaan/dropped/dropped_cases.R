# lavaan 0.6-14 on data with rows it drops (issue 12): how many rows each fit uses
# (lavInspect "nobs"), how many it read per group ("norig"), and its warnings.
# HolzingerSwineford1939, 3-factor CFA, with (1-based rows):
#   school missing        rows 1, 6, 10
#   x1..x9 all missing    rows 2, 3
#   x5 missing            rows 4, 5, 7
# Cases:
#   hs_drop_listwise      cfa(), listwise (rows 2-5, 7 dropped; the school column is unused)
#   hs_drop_fiml          cfa(missing = "ml") (rows 2, 3 empty: "some cases are empty")
#   hs_drop_mg_listwise   cfa(group = "school") (rows 1, 6, 10 have no group)
#   hs_drop_mg_fiml       cfa(group = "school", missing = "ml")
# Each JSON: the case record of ../_common.R plus `norig`, `warnings` and `rows` (the edits).
# Run from anywhere: Rscript tests/reference/lavaan/dropped/dropped_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "..", "_common.R"))
}
SCRIPT <- "dropped/dropped_cases.R"
REF_DIR <- script_dir()  # write the JSON beside this script
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", "..", ".."))

hs_file <- file.path(REPO_ROOT, "datasets", "hs1939.csv")
HS <- read_hs1939(REPO_ROOT)  # HS_MODEL, read_hs1939() and with_warnings() are in ../_common.R
ROWS <- list(group_missing = c(1L, 6L, 10L), all_missing = c(2L, 3L), x5_missing = c(4L, 5L, 7L))
HS$school[ROWS$group_missing] <- NA
HS[ROWS$all_missing, paste0("x", 1:9)] <- NA
HS$x5[ROWS$x5_missing] <- NA

run <- function(name, fit_args, ...) {
  r <- with_warnings(cfa(HS_MODEL, data = HS, ...))
  fit <- r$value
  extra <- list(norig = I(unlist(lavInspect(fit, "norig"))), warnings = I(r$warnings),
                rows = ROWS, n_read = nrow(HS))
  write_case(case_record(name, fit, HS_MODEL, hs_file, call = c(list(`function` = "cfa"), list(...)),
                         fit_args = fit_args, extra = extra), SCRIPT)
}

run("hs_drop_listwise", list(estimator = "ML", missing = "listwise"))
run("hs_drop_fiml", list(estimator = "ML", missing = "ml"), missing = "ml")
run("hs_drop_mg_listwise", list(estimator = "ML", missing = "listwise", group = "school"), group = "school")
run("hs_drop_mg_fiml", list(estimator = "ML", missing = "ml", group = "school"), group = "school", missing = "ml")
