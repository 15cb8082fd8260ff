# References for the ordinal analyses of issue 15 (invariance ladder and its difference
# tests, categorical reliability), lavaan 0.6-14, semTools 0.5-6, psych 2.2.9, psych's bfi.
#   bfi_ladder_lrt.json   cfa(ordered = all items, group = "gender", group.equal = ...) for the
#                         ordinal ladder configural / thresholds / metric / scalar, WLSMV, listwise,
#                         delta; fitMeasures and lavTestLRT of adjacent levels (default method for
#                         scaled.shifted: "satorra.2000", scaled.shifted = TRUE, A.method = "delta")
#   bfi_reliability.json  one WLSMV CFA of the five constructs (listwise): compRelSEM(fit)
#                         (categorical omega, Green & Yang 2009), AVE(fit), ordinal alpha
#                         (psych::alpha of the fit's polychoric matrix per construct),
#                         htmt(model, data, ordered = items, htmt2 = FALSE) and htmt2 = TRUE
# Run: Rscript tests/reference/ordinal_analysis/bfi_ordinal_analysis.R
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite); library(psych)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "..", "ordinal", "bfi.csv"))
data(bfi, package = "psych")
d$gender <- bfi$gender
items <- setdiff(names(d), "gender")
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
J <- function(x, file) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
                                  file.path(OUT, file))
levels <- list(configural = "", thresholds = "thresholds",
               metric = c("thresholds", "loadings"), scalar = c("thresholds", "loadings", "intercepts"))
fits <- lapply(levels, function(eq) cfa(model, data = d, ordered = items, group = "gender", group.equal = eq))
keep <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
          "chisq.scaling.factor", "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust", "rmsea.robust", "srmr")
lrt <- list()
for (i in 2:length(fits)) {
  t <- lavTestLRT(fits[[i - 1]], fits[[i]])
  lrt[[i - 1]] <- list(general = names(levels)[i - 1], restricted = names(levels)[i],
                       chisq_diff = t[2, "Chisq diff"], df_diff = t[2, "Df diff"], p = t[2, "Pr(>Chisq)"],
                       method = attr(t, "heading"))
}
# a non-adjacent pair, as compare() may test it
t <- lavTestLRT(fits$configural, fits$scalar)
lrt[[length(lrt) + 1]] <- list(general = "configural", restricted = "scalar", chisq_diff = t[2, "Chisq diff"],
                               df_diff = t[2, "Df diff"], p = t[2, "Pr(>Chisq)"], method = attr(t, "heading"))
J(list(lavaan = as.character(packageVersion("lavaan")), model = model, group = "gender",
       group_labels = lavInspect(fits[[1]], "group.label"), nobs = unlist(lavInspect(fits[[1]], "nobs")),
       levels = lapply(levels, function(x) if (nzchar(x[1])) x else list()),
       fit = lapply(fits, function(x) as.list(fitMeasures(x)[keep])), lrt = lrt), "bfi_ladder_lrt.json")

# reliability: one CFA of all constructs, listwise over all items
fit <- cfa(model, data = d[items], ordered = items)
om <- compRelSEM(fit)
ave <- AVE(fit)
R <- lavInspect(fit, "sampstat")$cov
cons <- list(A = paste0("A", 1:5), C = paste0("C", 1:5), E = paste0("E", 1:5), N = paste0("N", 1:5), O = paste0("O", 1:5))
oalpha <- sapply(cons, function(it) psych::alpha(R[it, it], warnings = FALSE)$total$raw_alpha)
oalpha_check <- sapply(cons, function(it) { r <- R[it, it]; k <- length(it); k / (k - 1) * (1 - k / sum(r)) })
ht <- htmt(model, data = d[items], ordered = items, htmt2 = FALSE)  # semTools 0.5-6 default is htmt2 = TRUE
J(list(lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools")),
       psych = as.character(packageVersion("psych")), model = model, nobs = lavInspect(fit, "nobs"),
       omega = as.list(om), ave = as.list(ave), ordinal_alpha = as.list(oalpha),
       ordinal_alpha_formula = as.list(oalpha_check),
       htmt = list(names = rownames(ht), matrix = unname(as.matrix(ht)))), "bfi_reliability.json")

# the same with bfi's reverse-keyed items recoded (7 - x: A1, C4, C5, E1, E2, O2, O5), as an analyst would
dk <- d[items]
for (it in c("A1", "C4", "C5", "E1", "E2", "O2", "O5")) dk[[it]] <- 7L - dk[[it]]
fit <- cfa(model, data = dk, ordered = items)
R <- lavInspect(fit, "sampstat")$cov
oalpha <- sapply(cons, function(it) psych::alpha(R[it, it], warnings = FALSE)$total$raw_alpha)
ht <- htmt(model, data = dk, ordered = items, htmt2 = FALSE)
ht2 <- htmt(model, data = dk, ordered = items, htmt2 = TRUE)
J(list(lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools")),
       psych = as.character(packageVersion("psych")), model = model, nobs = lavInspect(fit, "nobs"),
       reversed = c("A1", "C4", "C5", "E1", "E2", "O2", "O5"),
       omega = as.list(compRelSEM(fit)), ave = as.list(AVE(fit)), ordinal_alpha = as.list(oalpha),
       htmt = list(names = rownames(ht), matrix = unname(as.matrix(ht))),
       htmt2 = list(names = rownames(ht2), matrix = unname(as.matrix(ht2)))), "bfi_reliability_keyed.json")
