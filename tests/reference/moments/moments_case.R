# Reference for tests/test_moments.py: complete-case moments of moments_case.csv and
# the fig1 model fitted by lavaan from those moments.
#
# moments_case.csv (written by make_moments_case.py): 400 simulated fig1 respondents,
# items as answered, missing cells blank or coded -9.
# 1. read with -9 and blanks as NA; listwise over the 32 fig1 items;
# 2. moments of the items as answered: cov with divisor N (cov(X) * (N - 1) / N), means;
# 3. reverse-keyed items recoded x -> 8 - x, then
#    sem(fig1, sample.cov = cov(X), sample.mean = colMeans(X), sample.nobs = N)
#    (lavaan rescales sample.cov by (N - 1) / N, so it fits the divisor-N matrix).
#
# Run: Rscript tests/reference/moments/moments_case.R (writes moments_case.json beside it).
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
here <- {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  dirname(normalizePath(f[1L]))
}
repo <- normalizePath(file.path(here, "..", "..", ".."))
data_file <- file.path(here, "moments_case.csv")
spec_file <- file.path(repo, "specs", "fig1.lav")
FIG1 <- paste(readLines(spec_file), collapse = "\n")
meas <- grep("=~", sub("#.*$", "", readLines(spec_file)), value = TRUE)
items <- unique(unlist(lapply(strsplit(sub(".*=~", "", meas), "+", fixed = TRUE), trimws)))
REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")

d <- read.csv(data_file, na.strings = c("", "NA", "-9"))
X <- d[, items]
cc <- complete.cases(X)
X <- X[cc, ]
n <- nrow(X)
S_n <- cov(X) * (n - 1) / n
m <- colMeans(X)

Xr <- X
for (v in REVERSE) Xr[[v]] <- 8 - Xr[[v]]
fit <- sem(FIG1, sample.cov = cov(Xr), sample.mean = colMeans(Xr), sample.nobs = n)
pe <- parameterEstimates(fit)
fm <- fitMeasures(fit, c("chisq", "df", "npar", "cfi", "tli", "rmsea", "srmr"))

out <- list(
  case = "moments_case",
  generated_by = "tests/reference/moments/moments_case.R",
  lavaan_version = as.character(packageVersion("lavaan")),
  R_version = paste(R.version$major, R.version$minor, sep = "."),
  data_file = "tests/reference/moments/moments_case.csv",
  data_sha256 = digest::digest(file = data_file, algo = "sha256"),
  missing_codes = I(-9),
  columns = I(items),
  nobs = n,
  n_incomplete = sum(!cc),
  cov = unname(as.matrix(S_n)),
  mean = unname(m),
  recode_reverse = I(REVERSE),
  meanstructure = lavInspect(fit, "options")$meanstructure,
  fit_measures = as.list(fm),
  estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE, na = "null"),
           file.path(here, "moments_case.json"))
