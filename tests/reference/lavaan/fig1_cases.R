# lavaan reference cases for the Fig. 1 model (specs/fig1.lav) on the synthetic Better
# Care Fund survey (datasets/bcf_synthetic.csv), sem() defaults:
#   fig1_bcf_ml        ML, complete data
#   fig1_bcf_fiml      5% MCAR on the items (mask: fig1_bcf_mask.csv from fig1_mask.py), missing = "ml"
#   fig1_bcf_mlr       MLR, complete data
#   fig1_bcf_indirect  ML, structural paths labelled, `:=` indirect effects
# Reverse-keyed items (rol3, cul3, ctr4, gtr4, jmp3) are recoded x -> 8 - x before fitting.
# Run from anywhere: Rscript tests/reference/lavaan/fig1_cases.R (after fig1_mask.py)
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_common.R"))
}
SCRIPT <- "fig1_cases.R"

REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")

data_file <- file.path(REPO_ROOT, "datasets", "bcf_synthetic.csv")
spec_file <- file.path(REPO_ROOT, "specs", "fig1.lav")
BCF <- read.csv(data_file)
for (v in REVERSE) BCF[[v]] <- 8 - BCF[[v]]

FIG1 <- paste(readLines(spec_file), collapse = "\n")

# measurement part of the spec (=~ lines only) for the labelled-paths variant
meas <- grep("=~", sub("#.*$", "", readLines(spec_file)), value = TRUE)
FIG1_IND <- paste(c(trimws(meas),
  "CompTrust ~ a1*RoleAmb + a2*InfoAsym + a3*CultDiff",
  "GoodTrust ~ a4*CapImb + a5*PowDist + a6*CultDiff",
  "ServCons ~ b1*CompTrust",
  "PlanBudg ~ b2*GoodTrust",
  "JointMgmt ~ b3*CompTrust + b4*GoodTrust",
  "CompTrust ~~ GoodTrust",
  "ind_RoleAmb_ServCons := a1*b1",
  "ind_InfoAsym_ServCons := a2*b1",
  "ind_CapImb_PlanBudg := a4*b2",
  "ind_PowDist_PlanBudg := a5*b2",
  "ind_CultDiff_JointMgmt := a3*b3 + a6*b4",
  "ind_RoleAmb_JointMgmt := a1*b3"), collapse = "\n")

prep <- list(recode_reverse = I(REVERSE), recode = "x -> 8 - x",
             spec_file = "specs/fig1.lav", spec_sha256 = file_sha256(spec_file))

fit <- sem(FIG1, data = BCF)
write_case(case_record("fig1_bcf_ml", fit, FIG1, data_file, call = list(`function` = "sem"),
                       fit_args = list(estimator = "ML", missing = "listwise"), extra = prep), SCRIPT)

fit <- sem(FIG1, data = BCF, estimator = "MLR")
write_case(case_record("fig1_bcf_mlr", fit, FIG1, data_file,
                       call = list(`function` = "sem", estimator = "MLR"),
                       fit_args = list(estimator = "MLR", missing = "listwise"), extra = prep), SCRIPT)

fit <- sem(FIG1_IND, data = BCF)
write_case(case_record("fig1_bcf_indirect", fit, FIG1_IND, data_file, call = list(`function` = "sem"),
                       fit_args = list(estimator = "ML", missing = "listwise"), extra = prep), SCRIPT)

# --- 5% MCAR, FIML -------------------------------------------------------------------
mask_csv <- read.csv(file.path(REF_DIR, "fig1_bcf_mask.csv"))
items <- unique(unlist(lapply(strsplit(sub(".*=~", "", meas), "+", fixed = TRUE), trimws)))
stopifnot(all(mask_csv$column %in% items))
idx <- (match(mask_csv$column, items) - 1L) * nrow(BCF) + mask_csv$row
stopifnot(all(idx == mask_csv$index))
BCFm <- apply_mask(BCF, items, mask_csv$index)
mask_info <- c(prep, list(mask = list(
  columns = I(items), indices = I(as.integer(mask_csv$index)),
  convention = "1-based column-major indices into data[, columns]; row = (i-1) %% nrow, column = (i-1) %/% nrow",
  source = "tests/reference/lavaan/fig1_mask.py (numpy default_rng) -> fig1_bcf_mask.csv")))

fit <- sem(FIG1, data = BCFm, missing = "ml")
write_case(case_record("fig1_bcf_fiml", fit, FIG1, data_file,
                       call = list(`function` = "sem", missing = "ml"),
                       fit_args = list(estimator = "ML", missing = "ml"), extra = mask_info), SCRIPT)
