# Reference results for ordered items with exogenous covariates (issue 15, lavaan's
# conditional.x): psych's bfi, the A and C items (bfi.csv) with the respondents' age and
# gender as fixed-x covariates (stored in the JSON), WLSMV, listwise, lavaan 0.6-14
# (ordered items + observed exogenous covariates: conditional.x = TRUE, fixed.x = TRUE).
#   bfi_cx_mimic.json    A =~ A1..A5, C =~ C1..C5; A + C ~ age + gender (MIMIC)
#   bfi_cx_direct.json   the same plus a direct effect C1 ~ gender
#   bfi_cx_direct_theta.json  the same, parameterization = "theta"
#   bfi_cx_groups.json   two groups (gender), configural, A + C ~ age
#   bfi_cx_groups_metric.json  the same with group.equal = c("thresholds", "loadings")
#   bfi_cx_groups_metric_theta.json  the same, parameterization = "theta"
#   bfi_cx_pairwise.json the MIMIC model with missing = "pairwise" on all 2800 rows, the age of
#                        every 40th respondent removed (lavaan deletes those rows and warns)
# Each holds the first stage (WLS.obs with lavaan's names: thresholds, slopes, correlations;
# the NACOV's diagonal and first column), the estimates and the fit measures.
# Run: Rscript tests/reference/ordinal/conditional_x_cases.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(psych)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "bfi.csv"))
data(bfi, package = "psych")
stopifnot(nrow(bfi) == nrow(d))
d$age <- bfi$age
d$gender <- bfi$gender
items <- c(paste0("A", 1:5), paste0("C", 1:5))
base <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5\nA + C ~ age + gender"
case <- function(model, file, missing = "listwise", parameterization = "delta") {
  fit <- sem(model, data = d, ordered = items, missing = missing, parameterization = parameterization)
  stopifnot(lavInspect(fit, "options")$conditional.x)
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  nacov <- fit@SampleStats@NACOV[[1]]
  wls <- lavInspect(fit, "wls.obs")
  writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = "WLSMV",
                         ordered = items, missing = missing, parameterization = parameterization,
                         age = d$age, gender = d$gender,
                         nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
                         wls_obs = unname(wls), wls_names = names(wls),
                         nacov_diag = diag(nacov), nacov_col1 = nacov[, 1],
                         estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est,
                                          se = pe$se, std_all = pe$std.all),
                         fit = as.list(setNames(as.numeric(fm), names(fm)))),
                    digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
             file.path(OUT, file))
}
case(base, "bfi_cx_mimic.json")
case(paste(base, "C1 ~ gender", sep = "\n"), "bfi_cx_direct.json")
case(paste(base, "C1 ~ gender", sep = "\n"), "bfi_cx_direct_theta.json", parameterization = "theta")
d$age[seq(1, nrow(d), by = 40)] <- NA
case(base, "bfi_cx_pairwise.json", missing = "pairwise")
# two groups (gender) with age as the covariate: configural, and equal thresholds and loadings
# (lavaan frees the scale factors of group 2)
d$age <- bfi$age
gmodel <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5\nA + C ~ age"
groups_case <- function(equal, file, parameterization = "delta") {
  fit <- sem(gmodel, data = d, ordered = items, group = "gender", group.equal = equal,
             parameterization = parameterization)
  stopifnot(lavInspect(fit, "options")$conditional.x)
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = gmodel,
                         estimator = "WLSMV", ordered = items, missing = "listwise", group = "gender",
                         group_equal = equal, parameterization = parameterization, age = d$age, gender = d$gender,
                         nobs = unlist(lavInspect(fit, "nobs")),
                         estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est,
                                          se = pe$se, std_all = pe$std.all),
                         fit = as.list(setNames(as.numeric(fm), names(fm)))),
                    digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
             file.path(OUT, file))
}
groups_case("", "bfi_cx_groups.json")
groups_case(c("thresholds", "loadings"), "bfi_cx_groups_metric.json")
groups_case(c("thresholds", "loadings"), "bfi_cx_groups_metric_theta.json", parameterization = "theta")
