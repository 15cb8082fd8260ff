# lavaan 0.6-14 on badly scaled data (issue 12): one item multiplied by 100, so its
# variance is about 10^4 times the others. lavaan computes every SE and warns
# "some observed variances are (at least) a factor 1000 times larger than others".
#   hs_x1_x100        HolzingerSwineford1939 3-factor CFA, x1 * 100, cfa() defaults (ML)
#   hs_x1_x100_mlr    same, estimator = "MLR" (observed information, sandwich)
#   fig1_cap1_x100    specs/fig1.lav on bcf_synthetic (reverse-keyed items recoded
#                     x -> 8 - x), cap1 * 100, sem() defaults (ML)
# Each JSON has the usual case record (see ../_common.R) plus `scaled` (the column and
# factor) and `warnings` (lavaan's warnings as emitted, whitespace collapsed).
# Run from anywhere: Rscript tests/reference/lavaan/scaled/scaled_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "..", "_common.R"))
}
SCRIPT <- "scaled/scaled_cases.R"
REF_DIR <- script_dir()  # write the JSON beside this script
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", "..", ".."))

hs_file <- file.path(REPO_ROOT, "datasets", "hs1939.csv")
HS <- read_hs1939(REPO_ROOT)  # HS_MODEL, read_hs1939() and with_warnings() are in ../_common.R
HS$x1 <- HS$x1 * 100
scaled_hs <- list(scaled = list(column = "x1", factor = 100))

r <- with_warnings(cfa(HS_MODEL, data = HS))
write_case(case_record("hs_x1_x100", r$value, HS_MODEL, hs_file,
                       call = list(`function` = "cfa"),
                       fit_args = list(estimator = "ML", missing = "listwise"),
                       extra = c(scaled_hs, list(warnings = I(r$warnings)))), SCRIPT)

r <- with_warnings(cfa(HS_MODEL, data = HS, estimator = "MLR"))
write_case(case_record("hs_x1_x100_mlr", r$value, HS_MODEL, hs_file,
                       call = list(`function` = "cfa", estimator = "MLR"),
                       fit_args = list(estimator = "MLR", missing = "listwise"),
                       extra = c(scaled_hs, list(warnings = I(r$warnings)))), SCRIPT)

bcf <- bcf_fig1(REPO_ROOT)
B <- bcf$data
B$cap1 <- B$cap1 * 100
r <- with_warnings(sem(bcf$model, data = B))
write_case(case_record("fig1_cap1_x100", r$value, bcf$model, bcf$data_file,
                       call = list(`function` = "sem"),
                       fit_args = list(estimator = "ML", missing = "listwise"),
                       extra = list(scaled = list(column = "cap1", factor = 100),
                                    recode_reverse = I(BCF_REVERSE), recode = "x -> 8 - x",
                                    warnings = I(r$warnings))), SCRIPT)
