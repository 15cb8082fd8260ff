# Reference values for the bootstrap confidence limits of asymtrust.resample
# (percentile_ci, bc_ci): boot:::norm.inter (the interpolation lavaan's
# parameterEstimates() uses for boot.ci.type = "perc" and "bca.simple") applied to fixed,
# deterministic "replicate" vectors, so that no random stream is involved.
#   perc:        norm.inter(t, (1 + c(-level, level)) / 2)
#   bca.simple:  w = qnorm(sum(t < t0) / length(t));
#                norm.inter(t, pnorm(w + (w + qnorm(alpha)) / (1 - 0 * (w + qnorm(alpha)))))
# Run from anywhere: Rscript tests/reference/effects/ci_cases.R
suppressPackageStartupMessages(library(jsonlite))
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
REF_DIR <- script_dir()
norm_inter <- boot:::norm.inter

vectors <- list(
  skewed_199 = exp(sin(1:199) * 1.3 + (1:199) / 400),
  ties_50 = round(cos(1:50) * 3),
  symmetric_1000 = qnorm(ppoints(1000)) * 0.7 + 1.2,
  short_9 = c(3.1, -0.4, 2.2, 0.9, 5.5, 1.7, 0.1, 4.0, 2.6)
)
t0s <- c(skewed_199 = 1.1, ties_50 = 0.2, symmetric_1000 = 1.25, short_9 = 2.0)
levels <- c(0.95, 0.90, 0.99)
cases <- list()
for (nm in names(vectors)) {
  t <- vectors[[nm]]
  for (level in levels) {
    alpha <- (1 + c(-level, level)) / 2
    perc <- norm_inter(t, alpha)[, 2]
    t0 <- t0s[[nm]]
    w <- qnorm(sum(t < t0) / length(t))
    za <- qnorm(alpha)
    adj <- pnorm(w + (w + za) / (1 - 0 * (w + za)))
    bc <- norm_inter(t, adj)[, 2]
    cases[[length(cases) + 1L]] <- list(name = nm, level = level, t0 = t0, t = I(t),
                                        perc = I(perc), bc = I(bc))
  }
}
rec <- list(case = "ci", R_version = R.version.string,
            boot_version = as.character(packageVersion("boot")),
            generated_by = "tests/reference/effects/ci_cases.R", cases = cases)
writeLines(toJSON(rec, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(REF_DIR, "ci.json"))
message("wrote ci.json")
