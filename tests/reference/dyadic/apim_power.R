# lavaan-based Monte Carlo power of the APIM's actor and partner effects, for
# tests/test_dyadic_extra.py (asymtrust.power("apim", ...), issue 18).
#
# Run from the repository root:
#     Rscript tests/reference/dyadic/apim_power.R
# Writes tests/reference/dyadic/apim_power.json.
#
# The population is asymtrust.analysis.power.DyadGenerator's: standardized x_A, x_B with
# correlation cx; y_A = a_A x_A + p_A x_B + e_A, y_B = a_B x_B + p_B x_A + e_B with the residual
# variances solved so that var(y) = 1 and the residuals correlated cy. Each replicate draws n
# partnerships (MASS::mvrnorm) and fits the APIM with sem(fixed.x = FALSE); power is the share
# of converged replicates whose Wald z test rejects b = 0 at alpha = .05 (simsem's getPower()).
# R's random numbers are not numpy's: the test compares the two within Monte Carlo error.
suppressPackageStartupMessages({
  library(lavaan)
  library(MASS)
  library(jsonlite)
})
pop <- list(a_A = -0.2, p_A = -0.1, a_B = -0.45, p_B = -0.3, cx = 0.3, cy = 0.3)
ns <- c(40L, 80L, 160L)
reps <- 1000L
set.seed(18)

phi <- matrix(c(1, pop$cx, pop$cx, 1), 2)
beta <- matrix(c(pop$a_A, pop$p_B, pop$p_A, pop$a_B), 2)  # rows: y_A, y_B; cols: x_A, x_B
psi_var <- 1 - diag(beta %*% phi %*% t(beta))
psi <- diag(psi_var)
psi[1, 2] <- psi[2, 1] <- pop$cy * sqrt(psi_var[1] * psi_var[2])
S <- rbind(cbind(phi, phi %*% t(beta)), cbind(beta %*% phi, beta %*% phi %*% t(beta) + psi))
vars <- c("x_A", "x_B", "y_A", "y_B")
dimnames(S) <- list(vars, vars)

model <- "
y_A ~ x_A + x_B
y_B ~ x_B + x_A
x_A ~~ x_B
y_A ~~ y_B
"
paths <- c("y_A~x_A", "y_A~x_B", "y_B~x_B", "y_B~x_A")
out <- list()
for (n in ns) {
  rej <- matrix(NA, reps, 4, dimnames = list(NULL, paths))
  est <- matrix(NA, reps, 4, dimnames = list(NULL, paths))
  for (r in seq_len(reps)) {
    d <- as.data.frame(mvrnorm(n, rep(0, 4), S))
    names(d) <- vars
    fit <- try(sem(model, data = d, fixed.x = FALSE), silent = TRUE)
    if (inherits(fit, "try-error") || !lavInspect(fit, "converged")) next
    pe <- parameterEstimates(fit)
    pe <- pe[pe$op == "~", ]
    key <- paste(pe$lhs, pe$rhs, sep = "~")
    rej[r, key] <- pe$pvalue < 0.05
    est[r, key] <- pe$est
  }
  ok <- stats::complete.cases(rej)
  out[[as.character(n)]] <- list(n = n, n_converged = sum(ok), power = as.list(colMeans(rej[ok, ])),
                                 mean_est = as.list(colMeans(est[ok, ])))
}
res <- list(generated_by = "tests/reference/dyadic/apim_power.R", R = R.version.string,
            lavaan = as.character(packageVersion("lavaan")), population = pop, reps = reps, alpha = 0.05,
            seed = 18, results = unname(out))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/dyadic/apim_power.json")
cat("wrote tests/reference/dyadic/apim_power.json\n")
