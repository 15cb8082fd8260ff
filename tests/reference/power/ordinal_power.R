# Monte Carlo power of an ordinal design with lavaan, for tests/test_power_ordinal.py.
#
# Population (the spec tests/reference/power/med5.toml with the cut points below): three
# constructs with three items each, standardized loadings .75/.70/.65, M ~ 0.25*X,
# Y ~ 0.30*M (latent variances 1), each item's latent response cut into 5 categories at
# (-1.5, -0.5, 0.5, 1.5) (x and m items) or (-0.5, 0.3, 1.0, 1.8) (y items, skewed).
# Each replicate: simulateData(population with thresholds, sample.nobs = n), then
# sem(model, ordered = all items) (WLSMV, delta) with the indirect effect ind := a*b; a
# replicate counts when lavaan converged and every tested SE is finite; power is the share
# of counted replicates whose z test (estimate / SE) gives p < alpha; also the mean and SD of
# the std.all estimates and the mean of their SEs (standardizedSolution).
# Two designs: "fast" (n = 250, 40 replicates) and "full" (n = 100 and 250, 200 replicates).
#
# Run: Rscript tests/reference/power/ordinal_power.R  (writes ordinal_power.json beside this
# script; about 2 minutes). Needs lavaan 0.6-14 and jsonlite.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))

alpha <- 0.05
lam <- c(0.75, 0.70, 0.65)
items <- c(paste0("x", 1:3), paste0("m", 1:3), paste0("y", 1:3))
cuts <- list(default = c(-1.5, -0.5, 0.5, 1.5), y1 = c(-0.5, 0.3, 1.0, 1.8), y2 = c(-0.5, 0.3, 1.0, 1.8),
             y3 = c(-0.5, 0.3, 1.0, 1.8))
num <- function(v) format(v, digits = 15)
pop <- c("X =~ 0.75*x1 + 0.70*x2 + 0.65*x3", "M =~ 0.75*m1 + 0.70*m2 + 0.65*m3", "Y =~ 0.75*y1 + 0.70*y2 + 0.65*y3",
         "M ~ 0.25*X", "Y ~ 0.30*M", "X ~~ 1*X", paste0("M ~~ ", num(1 - 0.25^2), "*M"),
         paste0("Y ~~ ", num(1 - 0.30^2), "*Y"))
for (it in items) {
  cu <- if (is.null(cuts[[it]])) cuts$default else cuts[[it]]
  pop <- c(pop, paste0(it, " | ", paste0(num(cu), "*t", seq_along(cu), collapse = " + ")))
}
pop <- paste(pop, collapse = "\n")
model <- "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ a*X\nY ~ b*M\nind := a*b"
targets <- list(`M~X` = c("M", "~", "X"), `Y~M` = c("Y", "~", "M"), `X -> M -> Y` = c("ind", ":=", "a*b"))

# the population's implied correlations of the latent responses (delta: unit variances)
# (the continuous part with the items' residual variances 1 - lambda^2, fixed values only)
cont <- c(grep("|", strsplit(pop, "\n")[[1]], fixed = TRUE, value = TRUE, invert = TRUE),
          paste0(items, " ~~ ", num(1 - rep(lam, 3)^2), "*", items))
implied <- lavInspect(lavaan(paste(cont, collapse = "\n"), do.fit = FALSE), "implied")$cov

one <- function(n) {
  d <- simulateData(pop, sample.nobs = n)
  fit <- try(suppressWarnings(sem(model, data = d, ordered = items)), silent = TRUE)
  if (inherits(fit, "try-error") || !lavInspect(fit, "converged")) return(NULL)
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  out <- t(sapply(targets, function(k) {
    i <- which(pe$lhs == k[1] & pe$op == k[2] & pe$rhs == k[3])
    j <- which(ss$lhs == k[1] & ss$op == k[2] & ss$rhs == k[3])
    c(est = pe$est[i], se = pe$se[i], std = ss$est.std[j], std_se = ss$se[j])
  }))
  if (!all(is.finite(out))) return(NULL)
  out
}
design <- function(ns, reps, seed) {
  set.seed(seed)
  res <- list()
  for (n in ns) {
    reps_n <- lapply(seq_len(reps), function(r) one(n))
    ok <- !vapply(reps_n, is.null, TRUE)
    arr <- simplify2array(reps_n[ok])  # targets x 4 x replicates
    for (t in names(targets)) {
      est <- arr[t, "est", ]; se <- arr[t, "se", ]; std <- arr[t, "std", ]; sse <- arr[t, "std_se", ]
      p <- 2 * pnorm(-abs(est / se))
      res[[length(res) + 1]] <- list(n = n, parameter = t, power = mean(p < alpha), n_converged = sum(ok),
                                     reps = reps, mean_est = mean(std), sd_est = sd(std), mean_se = mean(sse))
    }
  }
  res
}
t0 <- Sys.time()
fast <- design(250, 40, 15)
full <- design(c(100, 250), 200, 1515)
writeLines(toJSON(list(case = "ordinal_power", generated_by = "tests/reference/power/ordinal_power.R",
                       lavaan = as.character(packageVersion("lavaan")), alpha = alpha, population = pop,
                       model = model, items = items, thresholds = cuts,
                       implied = list(names = rownames(implied), matrix = unname(implied)),
                       designs = list(fast = fast, full = full),
                       seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "ordinal_power.json"))
