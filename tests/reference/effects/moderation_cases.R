# Reference values for asymtrust.moderation() and asymtrust.indprod():
# capacity imbalance (CapImb: cap1-cap3) x power distance (PowDist: pow1-pow3) ->
# goodwill trust (GoodTrust: gtr1-gtr4) on datasets/bcf_synthetic.csv, reverse-keyed
# items (rol3, cul3, ctr4, gtr4, jmp3) recoded x -> 8 - x.
#
# Writes moderation.json next to this script:
#   indprod    semTools::indProd(match = TRUE / FALSE, meanC = TRUE, residualC = FALSE,
#              doubleMC = TRUE) on the recoded data with four cells set to NA
#              (na_cells, 1-based rows); matched products for every row, all-pairs
#              products for the first 50 rows.
#   observed   composites = item means; x and w mean-centred; lm(y ~ x + w + x:w);
#              HC3 covariance (sandwich::vcovHC(type = "HC3")); t tests on df.residual;
#              simple slopes at w = -1 SD, 0, +1 SD (sd() of the composite); Johnson-Neyman
#              boundaries solved from (b1 + b3 u)^2 = t^2 Var(b1 + b3 u).
#   latent     lavaan::sem(specs/fig1_moderated.lav) on the data plus the matched
#              double-mean-centred product indicators (complete data); simple slopes of
#              GoodTrust on CapImb at PowDist = -1, 0, +1 SD (SD = sqrt of the PowDist
#              variance, held fixed), delta-method SEs from vcov(fit); JN boundaries
#              with the normal critical value.
# Run from anywhere: Rscript tests/reference/effects/moderation_cases.R
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
  library(sandwich)
  library(jsonlite)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
REF_DIR <- script_dir()
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", ".."))
file_sha256 <- function(path) digest::digest(file = path, algo = "sha256")

REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
bcf_file <- file.path(REPO_ROOT, "datasets", "bcf_synthetic.csv")
spec_file <- file.path(REPO_ROOT, "specs", "fig1_moderated.lav")
BCF <- read.csv(bcf_file)
for (v in REVERSE) BCF[[v]] <- 8 - BCF[[v]]
XI <- c("cap1", "cap2", "cap3")
WI <- c("pow1", "pow2", "pow3")
YI <- c("gtr1", "gtr2", "gtr3", "gtr4")
LEVEL <- 0.95

# --- indProd ------------------------------------------------------------------------------
na_cells <- data.frame(row = c(5L, 17L, 40L, 40L), column = c("cap1", "cap1", "pow2", "cap3"),
                       stringsAsFactors = FALSE)
BCFna <- BCF
for (i in seq_len(nrow(na_cells))) BCFna[na_cells$row[i], na_cells$column[i]] <- NA
pm <- indProd(BCFna, var1 = XI, var2 = WI, match = TRUE, meanC = TRUE, residualC = FALSE,
              doubleMC = TRUE)
matched_names <- paste(XI, WI, sep = ".")
pa <- indProd(BCFna, var1 = XI, var2 = WI, match = FALSE, meanC = TRUE, residualC = FALSE,
              doubleMC = TRUE)
all_names <- as.vector(t(outer(XI, WI, paste, sep = ".")))
stopifnot(all(matched_names %in% names(pm)), all(all_names %in% names(pa)))
indprod <- list(
  call = "indProd(data, var1 = c('cap1','cap2','cap3'), var2 = c('pow1','pow2','pow3'), match = TRUE|FALSE, meanC = TRUE, residualC = FALSE, doubleMC = TRUE)",
  na_cells = na_cells,
  matched_names = I(matched_names),
  matched = lapply(setNames(matched_names, matched_names), function(n) I(pm[[n]])),
  all_pairs_names = I(all_names),
  all_pairs_first50 = lapply(setNames(all_names, all_names), function(n) I(pa[[n]][1:50]))
)

# --- Johnson-Neyman boundaries: roots of (b1 + b3 u)^2 - q^2 (v11 + 2 u v13 + u^2 v33) ----------
jn_bounds <- function(b1, b3, V, q) {
  a <- b3^2 - q^2 * V[2, 2]
  b <- 2 * (b1 * b3 - q^2 * V[1, 2])
  c <- b1^2 - q^2 * V[1, 1]
  r <- polyroot(c(c, b, a))
  r <- sort(Re(r[abs(Im(r)) < 1e-8]))
  list(roots_centered = I(r), leading = a)
}

slopes_at <- function(b1, b3, V, u, q) {
  slope <- b1 + b3 * u
  se <- sqrt(V[1, 1] + 2 * u * V[1, 2] + u^2 * V[2, 2])
  data.frame(w_centered = u, slope = slope, se = se, stat = slope / se,
             ci_lower = slope - q * se, ci_upper = slope + q * se)
}

# --- observed composites, OLS with HC3 ---------------------------------------------------------
comp <- data.frame(x = rowMeans(BCF[, XI]), w = rowMeans(BCF[, WI]), y = rowMeans(BCF[, YI]))
w_mean <- mean(comp$w)
w_sd <- sd(comp$w)
comp$xc <- comp$x - mean(comp$x)
comp$wc <- comp$w - w_mean
ols <- lm(y ~ xc + wc + xc:wc, data = comp)
Vhc3 <- vcovHC(ols, type = "HC3")
b <- coef(ols)
se <- sqrt(diag(Vhc3))
dfr <- df.residual(ols)
qt_ <- qt(1 - (1 - LEVEL) / 2, dfr)
coefs <- data.frame(term = c("Intercept", "CapImb", "PowDist", "CapImb:PowDist"),
                    est = unname(b), se = unname(se), t = unname(b / se),
                    pvalue = unname(2 * pt(-abs(b / se), dfr)),
                    ci_lower = unname(b - qt_ * se), ci_upper = unname(b + qt_ * se))
V2 <- Vhc3[c("xc", "xc:wc"), c("xc", "xc:wc")]
ss <- slopes_at(b[["xc"]], b[["xc:wc"]], V2, c(-w_sd, 0, w_sd), qt_)
ss$w <- ss$w_centered + w_mean
ss$pvalue <- 2 * pt(-abs(ss$stat), dfr)
jn <- jn_bounds(b[["xc"]], b[["xc:wc"]], V2, qt_)
observed <- list(
  composites = "item means: CapImb = cap1-cap3, PowDist = pow1-pow3, GoodTrust = gtr1-gtr4 (recoded)",
  model = "lm(GoodTrust ~ CapImb_c + PowDist_c + CapImb_c:PowDist_c), predictors mean-centred",
  vcov = "sandwich::vcovHC(type = 'HC3')",
  nobs = nrow(comp), df_resid = dfr, x_mean = mean(comp$x), w_mean = w_mean, w_sd = w_sd,
  r_squared = summary(ols)$r.squared,
  coefficients = coefs, vcov_hc3 = unname(Vhc3),
  simple_slopes = ss,
  jn = list(roots = I(jn$roots_centered + w_mean), leading = jn$leading,
            w_min = min(comp$w), w_max = max(comp$w))
)

# --- latent interaction (fig1_moderated) ---------------------------------------------------------
LAT <- indProd(BCF, var1 = XI, var2 = WI, match = TRUE, meanC = TRUE, residualC = FALSE,
               doubleMC = TRUE)
MOD <- paste(readLines(spec_file), collapse = "\n")
fit <- sem(MOD, data = LAT)
pe <- parameterEstimates(fit, standardized = TRUE)
pt_ <- parTable(fit)
row_of <- function(lhs, op, rhs) which(pt_$lhs == lhs & pt_$op == op & pt_$rhs == rhs)
free_of <- function(lhs, op, rhs) pt_$free[row_of(lhs, op, rhs)]
V <- lavInspect(fit, "vcov")
i1 <- free_of("GoodTrust", "~", "CapImb")
i3 <- free_of("GoodTrust", "~", "CapxPow")
Vl <- V[c(i1, i3), c(i1, i3)]
b1 <- pt_$est[row_of("GoodTrust", "~", "CapImb")]
b3 <- pt_$est[row_of("GoodTrust", "~", "CapxPow")]
psi <- lavInspect(fit, "cov.lv")["PowDist", "PowDist"]
qz <- qnorm(1 - (1 - LEVEL) / 2)
lss <- slopes_at(b1, b3, Vl, c(-sqrt(psi), 0, sqrt(psi)), qz)
lss$pvalue <- 2 * pnorm(-abs(lss$stat))
reg <- pe[pe$op == "~" & pe$lhs == "GoodTrust", c("lhs", "op", "rhs", "est", "se", "z", "pvalue",
                                                   "ci.lower", "ci.upper", "std.all")]
names(reg) <- gsub(".", "_", names(reg), fixed = TRUE)
jl <- jn_bounds(b1, b3, Vl, qz)
latent <- list(
  spec = "fig1_moderated", spec_sha256 = file_sha256(spec_file),
  converged = lavInspect(fit, "converged"), nobs = lavInspect(fit, "ntotal"),
  chisq = unname(fitMeasures(fit, "chisq")), df = unname(fitMeasures(fit, "df")),
  regressions = reg, w_var = psi, w_sd = sqrt(psi),
  vcov_b1_b3 = unname(Vl), simple_slopes = lss,
  jn = list(roots = I(jl$roots_centered), leading = jl$leading)
)

rec <- list(
  case = "moderation",
  lavaan_version = as.character(packageVersion("lavaan")),
  semTools_version = as.character(packageVersion("semTools")),
  sandwich_version = as.character(packageVersion("sandwich")),
  R_version = R.version.string,
  generated_by = "tests/reference/effects/moderation_cases.R",
  data_name = basename(bcf_file), data_sha256 = file_sha256(bcf_file),
  recode_reverse = I(REVERSE), ci_level = LEVEL,
  indprod = indprod, observed = observed, latent = latent
)
txt <- toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
              dataframe = "rows", matrix = "rowmajor", pretty = TRUE)
writeLines(txt, file.path(REF_DIR, "moderation.json"), useBytes = TRUE)
message("wrote moderation.json")
