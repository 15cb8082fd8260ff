# Reference results for ordered items mixed with continuous variables (issue 15),
# lavaan 0.6-14, on small_data.csv (written by small_cases.R) plus two continuous
# variables: x1 = A1 + A4 + z3 (5 .. 14 ... a sum score) and x2 = A5 * 1.5 + b1 (continuous codes).
#   mixed_data.csv          the data (A2, A3, A5, x1, x2)
#   mixed_cfa.json          cfa(f =~ x1 + A2 + A3 + A5 + x2, ordered = c(A2, A3, A5)), WLSMV:
#                           WLS.obs, NACOV (full), estimates, fit
#   mixed_groups.json       the same model in two groups (g = 1, 2, 1, 2, ... by row), configural
#   mixed_pairwise.json     the same model, one group, missing = "pairwise", with every 7th value of
#                           x1 and A3 and every 11th of x2 and A2 removed (offsets 1, 3, 2, 5): NACOV, fit
# Run: Rscript tests/reference/ordinal/mixed_cases.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
s <- read.csv(file.path(OUT, "small_data.csv"))
d <- data.frame(A2 = s$A2, A3 = s$A3, A5 = s$A5, x1 = s$A1 + s$A4 + s$z3 + 0.25 * s$b2,
                x2 = 1.5 * s$A5 + 0.5 * s$A1 - 0.3 * s$b3)
write.csv(d, file.path(OUT, "mixed_data.csv"), row.names = FALSE)
d <- read.csv(file.path(OUT, "mixed_data.csv"))
model <- "f =~ x1 + A2 + A3 + A5 + x2"
fit <- cfa(model, data = d, ordered = c("A2", "A3", "A5"))
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model,
                       ordered = c("A2", "A3", "A5"), ov = lavNames(fit), wls_obs = unname(lavInspect(fit, "wls.obs")),
                       wls_names = names(lavInspect(fit, "wls.obs")), nacov = unname(fit@SampleStats@NACOV[[1]]),
                       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                                        std_all = pe$std.all),
                       fit = as.list(setNames(as.numeric(fm), names(fm)))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "mixed_cfa.json"))
d$g <- rep(1:2, length.out = nrow(d))
fit <- cfa(model, data = d, ordered = c("A2", "A3", "A5"), group = "g")
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, group = "g",
                       ordered = c("A2", "A3", "A5"),
                       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est,
                                        se = pe$se, std_all = pe$std.all),
                       fit = as.list(setNames(as.numeric(fm), names(fm)))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "mixed_groups.json"))
d$g <- NULL
n <- nrow(d)
d$x1[seq(1, n, by = 7)] <- NA; d$A3[seq(3, n, by = 7)] <- NA
d$x2[seq(2, n, by = 11)] <- NA; d$A2[seq(5, n, by = 11)] <- NA
fit <- cfa(model, data = d, ordered = c("A2", "A3", "A5"), missing = "pairwise")
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, missing = "pairwise",
                       ordered = c("A2", "A3", "A5"), ov = lavNames(fit), wls_obs = unname(lavInspect(fit, "wls.obs")),
                       nacov = unname(fit@SampleStats@NACOV[[1]]), nobs = lavInspect(fit, "nobs"),
                       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                                        std_all = pe$std.all),
                       fit = as.list(setNames(as.numeric(fm), names(fm)))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "mixed_pairwise.json"))
