# Dyadic references (issue 18), lavaan 0.6-14.  Run from this folder:
#   Rscript make_dyadic.R   -> dyad_respondents.csv, dyad_means.csv, dyadic.json
# 1. a SYNTHETIC respondent-level data set of partnerships (two sides, "nhs" and "council"),
#    seeded, written as dyad_respondents.csv;
# 2. the dyad means (one row per partnership, <col>_<side>, n_<side>), dyad_means.csv, and
#    per construct ICC(1)/ICC(2) from psych::statsBy and rwg(j) (LeBreton & Senter 2008, eq. in
#    the comments below; the R package `multilevel` is not installed, so rwg(j) is computed here
#    from its formula);
# 3. the response surface models of Schoenbrodt's RSA package (R/RSA.R, CRAN 0.10.x),
#    written out in lavaan syntax exactly as RSA() writes them, fitted with
#    sem(fixed.x=TRUE, meanstructure=TRUE, estimator="MLR");
# 4. the APIM for distinguishable dyads on the dyad means (ML, MLR, FIML) and the
#    distinguishability tests (lavTestLRT).
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(psych)})
set.seed(20261207)

## 1. respondents ------------------------------------------------------------------
P <- 160
clip <- function(v) pmin(7, pmax(1, round(v)))
rows <- list()
for (p in seq_len(P)) {
  ta <- rnorm(1, 4, 1); tb <- 0.3 * (ta - 4) + 4 + rnorm(1, 0, 0.95)  # true asymmetry: nhs, council
  gw_n <- 4.2 + 0.40 * (ta - 4) + 0.10 * (tb - 4) - 0.25 * (ta - tb)^2 + rnorm(1, 0, 0.6)
  gw_c <- 4.0 + 0.25 * (tb - 4) + 0.30 * (ta - 4) - 0.35 * (ta - tb)^2 + rnorm(1, 0, 0.6)
  for (side in c("nhs", "council")) {
    if (p > P - 8 && side == "council") next          # 8 partnerships without a council side
    m <- 1 + rpois(1, 1.5)
    ta_s <- if (side == "nhs") ta else tb
    gw_s <- if (side == "nhs") gw_n else gw_c
    for (r in seq_len(m)) {
      u <- rnorm(1, 0, 0.5); v <- rnorm(1, 0, 0.5)
      rows[[length(rows) + 1]] <- data.frame(partnership = sprintf("P%03d", p), sector = side,
        asym1 = clip(ta_s + u + rnorm(1, 0, .5)), asym2 = clip(ta_s + u + rnorm(1, 0, .5)),
        asym3 = clip(ta_s + u + rnorm(1, 0, .5)),
        gw1 = clip(gw_s + v + rnorm(1, 0, .5)), gw2 = clip(gw_s + v + rnorm(1, 0, .5)),
        gw3 = clip(gw_s + v + rnorm(1, 0, .5)))
    }
  }
}
resp <- do.call(rbind, rows)
resp$asym <- rowMeans(resp[, c("asym1", "asym2", "asym3")])
resp$goodwill <- rowMeans(resp[, c("gw1", "gw2", "gw3")])
write.csv(resp, "dyad_respondents.csv", row.names = FALSE)

## 2. dyad means ---------------------------------------------------------------------
cols <- c("asym", "goodwill")
sides <- c("nhs", "council")
ids <- sort(unique(resp$partnership))
wide <- data.frame(partnership = ids)
for (s in sides) {
  sub <- resp[resp$sector == s, ]
  for (cc in cols) wide[[paste0(cc, "_", s)]] <- as.numeric(tapply(sub[[cc]], factor(sub$partnership, ids), mean))
  wide[[paste0("n_", s)]] <- as.integer(table(factor(sub$partnership, ids)))
}
write.csv(wide, "dyad_means.csv", row.names = FALSE)

# ICC(1), ICC(2): psych::statsBy over the partnership x side units
resp$unit <- paste(resp$partnership, resp$sector, sep = ":")
sb <- statsBy(resp[, c("unit", cols)], group = "unit")
icc <- list()
for (cc in cols) icc[[cc]] <- list(icc1 = unname(sb$ICC1[cc]), icc2 = unname(sb$ICC2[cc]))
# rwg(j) per unit (James, Demaree & Wolf 1984; LeBreton & Senter 2008, eq. 3):
# rwg(j) = J(1 - s2/E) / (J(1 - s2/E) + s2/E), s2 the mean of the J item variances in the
# unit, E = (A^2 - 1)/12 the uniform null variance of an A-point scale; units of one
# respondent have no rwg; values outside [0, 1] are set to 0 (LeBreton & Senter 2008).
items <- list(asym = c("asym1", "asym2", "asym3"), goodwill = c("gw1", "gw2", "gw3"))
A <- 7; E <- (A^2 - 1) / 12
rwg <- list()
for (cc in cols) {
  vals <- c(); units <- c()
  for (u in sort(unique(resp$unit))) {
    X <- resp[resp$unit == u, items[[cc]], drop = FALSE]
    if (nrow(X) < 2) next
    s2 <- mean(apply(X, 2, var)); J <- length(items[[cc]])
    r <- J * (1 - s2 / E) / (J * (1 - s2 / E) + s2 / E)
    if (r < 0 || r > 1) r <- 0
    vals <- c(vals, r); units <- c(units, u)
  }
  rwg[[cc]] <- list(units = units, rwg = vals, mean = mean(vals), median = median(vals),
                    share70 = mean(vals >= 0.70))
}

## 3. RSA ----------------------------------------------------------------------------
est_rows <- function(fit) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$label != "" | pe$op == "~1", ]
  lapply(seq_len(nrow(pe)), function(i) list(lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i], label = pe$label[i],
                                             est = pe$est[i], se = pe$se[i], pvalue = pe$pvalue[i]))
}
fitinfo <- function(fit) {
  fm <- fitMeasures(fit)
  keep <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
            "chisq.scaling.factor", "logl", "aic", "bic")
  as.list(fm[intersect(keep, names(fm))])
}
rsa_syntax <- function(DV, IV1, IV2) {
  IV12 <- paste0(IV1, "2"); IV22 <- paste0(IV2, "2"); IA <- paste0(IV1, "_", IV2)
  poly <- paste0(DV, " ~ b1*", IV1, " + b2*", IV2, " + b3*", IV12, " + b4*", IA, " + b5*", IV22)
  a15 <- c("a1 := b1+b2", "a2 := b3+b4+b5", "a3 := b1-b2", "a4 := b3-b4+b5", "a5 := b3-b5")
  sp <- c("X0 := (b2*b4 - 2*b1*b5) / (4*b3*b5 - b4^2)", "Y0 := (b1*b4 - 2*b2*b3) / (4*b3*b5 - b4^2)")
  pa <- c("p11 := (b5 - b3 + sqrt(((b3 - b5)^2) + (b4^2))) / b4",
          "p10 := Y0 - p11*X0",
          "p21 :=  (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4",
          "p20 := Y0 - p21*X0")
  pa2 <- c("p11 := (b5 - b3 + sqrt(((b3 - b5)^2) + (b4^2))) / b4",
           "p21 :=  (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4")
  curv <- c("PA1.curv := b3 + b4*p11 + b5*(p11^2)", "PA2.curv := b3 + b4*p21 + b5*(p21^2)",
            "l1 := (b3 + b5 + sqrt((b3+b5)^2 - 4*b3*b5 + b4^2))/2",
            "l2 := (b3 + b5 - sqrt((b3+b5)^2 - 4*b3*b5 + b4^2))/2")
  J <- function(...) paste(c(...), collapse = "\n")
  srrr <- function(sgn) J(paste0(poly, " + start(", sgn, "0.01)*", IV12, " + start(", sgn, "0.01)*", IV22),
    if (sgn == "") c("b3 > 0.000001", "b5 > 0.000001") else c("b3 < -0.000001", "b5 < -0.000001"),
    "b4^2 == 4*b3*b5", a15, pa2, curv[1:2], "meaneffect := (b2*b4 - 2*b1*b5) / b4",
    "C := (-2*b1*b5 - b2*b4) / (4*b4*b5)", "S := (-b4) / (2*b5)", "a4.rescaled := b3/S^2 - b4/S + b5", curv[3:4])
  list(
    null = paste0(DV, "~ 1 + 0*", IV1, " + 0*", IV2, " + 0*", IV12, " + 0*", IA, " + 0*", IV22),
    full = J(poly, a15, sp, pa, curv),
    additive = J(poly, "b3==0", "b4==0", "b5==0", a15),
    onlyx = J(poly, "b2==0", "b3==0", "b4==0", "b5==0", a15),
    onlyy = J(poly, "b1==0", "b3==0", "b4==0", "b5==0", a15),
    IA = J(poly, "b3==0", "b5==0", a15, sp, "p11 := (b5 - b3 + sqrt(((b3 - b5)^2) + (b4^2))) / b4",
           "p21 :=  (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4", "p10 := Y0 - p11*X0", "p20 := Y0 - p21*X0", curv),
    SQD = J(poly, "b1==0", "b2==0", "b3==b5", "b3+b4+b5==0", a15, pa2, curv),
    RR = J(poly, "b1==b2", "b3==b5", "b3+b4+b5==0", a15, "meaneffect := b1+b2", pa2, curv),
    SRR = J(poly, "b3==b5", "b3+b4+b5==0", a15, pa2, curv[1:2], "meaneffect := a1", "C := (b1-b2) / (4*b3)", curv[3:4]),
    SRRR.up = srrr(""), SRRR.down = srrr("-"))
}
bj_outliers <- function(df, DV, IV1, IV2) {
  f <- as.formula(paste0(DV, " ~ ", IV1, " + ", IV2, " + ", IV1, "2 + ", IV1, "_", IV2, " + ", IV2, "2"))
  inf <- influence.measures(lm(f, df))
  which(apply(inf$is.inf[, c("dffit", "cook.d", "hat")], 1, sum) == 3)
}
run_rsa <- function(df, DV, IV1, IV2, center = "none", out.rm = FALSE, missing = "listwise", scale = "none") {
  # RSA(): variablewise centering, then variablewise scaling (R's scale(): the root mean square
  # when not centred), then pooled centering, then pooled scaling
  if (center == "variablewise") { df[[IV1]] <- as.numeric(scale(df[[IV1]], TRUE, FALSE)); df[[IV2]] <- as.numeric(scale(df[[IV2]], TRUE, FALSE)) }
  if (scale == "variablewise") { df[[IV1]] <- as.numeric(scale(df[[IV1]], FALSE, TRUE)); df[[IV2]] <- as.numeric(scale(df[[IV2]], FALSE, TRUE)) }
  if (center == "pooled") {
    pm <- mean(c(df[[IV1]], df[[IV2]]), na.rm = TRUE)
    df[[IV1]] <- df[[IV1]] - pm; df[[IV2]] <- df[[IV2]] - pm
  }
  if (scale == "pooled") {
    ps <- sd(c(df[[IV1]], df[[IV2]]), na.rm = TRUE)
    df[[IV1]] <- df[[IV1]] / ps; df[[IV2]] <- df[[IV2]] / ps
  }
  df[[paste0(IV1, "2")]] <- df[[IV1]]^2; df[[paste0(IV2, "2")]] <- df[[IV2]]^2
  df[[paste0(IV1, "_", IV2)]] <- df[[IV1]] * df[[IV2]]
  out <- integer(0)
  if (out.rm) { out <- bj_outliers(df, DV, IV1, IV2); if (length(out)) df <- df[-out, ] }
  syn <- rsa_syntax(DV, IV1, IV2)
  fits <- list(); res <- list()
  for (m in names(syn)) {
    fits[[m]] <- suppressWarnings(sem(syn[[m]], data = df, fixed.x = TRUE, meanstructure = TRUE, estimator = "MLR",
                                       missing = missing))
  }
  up <- fits[["SRRR.up"]]; dn <- fits[["SRRR.down"]]
  cu <- lavInspect(up, "converged"); cd <- lavInspect(dn, "converged")
  rot <- if (cu && cd) (if (fitMeasures(up, "chisq") > fitMeasures(dn, "chisq")) "down" else "up") else if (cu) "up" else "down"
  for (m in names(syn)) {
    res[[m]] <- list(syntax = syn[[m]], converged = lavInspect(fits[[m]], "converged"),
                     fit = fitinfo(fits[[m]]), est = est_rows(fits[[m]]),
                     r2 = unname(lavInspect(fits[[m]], "r2")))
  }
  # chi-square difference tests of each constrained model against the full model (lavTestLRT, MLR: SB2001)
  lrt <- list()
  for (m in setdiff(names(syn), "full")) {
    if (!lavInspect(fits[[m]], "converged")) next
    a <- tryCatch(lavTestLRT(fits[["full"]], fits[[m]]), error = function(e) NULL)
    if (is.null(a)) { lrt[[m]] <- list(error = "lavTestLRT failed"); next }
    lrt[[m]] <- list(chisq_diff = a[2, "Chisq diff"], df_diff = a[2, "Df diff"], pvalue = a[2, "Pr(>Chisq)"])
  }
  list(DV = DV, IV1 = IV1, IV2 = IV2, center = center, scale = scale, out.rm = out.rm, outliers = as.integer(out), missing = missing,
       n = nrow(df), SRRR.rot = rot, models = res, lrt = lrt)
}
dm <- wide[complete.cases(wide), ]
# for the outlier rule: the first complete partnership made extreme (a Bollen & Jackman case)
dm_out <- dm
dm_out[1, c("asym_nhs", "asym_council", "goodwill_nhs")] <- c(7, 1, 7)
write.csv(dm_out, "dyad_means_outlier.csv", row.names = FALSE)
# RSA() centres on the pooled mean of the available values (na.rm = TRUE)
rsa_ref <- list(
  council_pooled = run_rsa(dm, "goodwill_council", "asym_nhs", "asym_council", center = "pooled"),
  council_none = run_rsa(dm, "goodwill_council", "asym_nhs", "asym_council"),
  nhs_pooled_outrm = run_rsa(dm_out, "goodwill_nhs", "asym_nhs", "asym_council", center = "pooled", out.rm = TRUE),
  nhs_pooled_outkeep = run_rsa(dm_out, "goodwill_nhs", "asym_nhs", "asym_council", center = "pooled"),
  # all 160 partnerships, the council side of 8 missing: RSA() then uses missing = "fiml.x" (= "ml.x")
  nhs_pooled_fiml = run_rsa(wide, "goodwill_nhs", "asym_nhs", "asym_council", center = "pooled", missing = "ml.x"),
  council_pooled_scaled = run_rsa(dm, "goodwill_council", "asym_nhs", "asym_council", center = "pooled", scale = "pooled"),
  council_variablewise = run_rsa(dm, "goodwill_council", "asym_nhs", "asym_council", center = "variablewise",
                                 scale = "variablewise"))

## 4. APIM ---------------------------------------------------------------------------
apim_free <- "
goodwill_nhs ~ a_A*asym_nhs + p_A*asym_council
goodwill_council ~ a_B*asym_council + p_B*asym_nhs
asym_nhs ~~ vx_A*asym_nhs
asym_council ~~ vx_B*asym_council
asym_nhs ~~ cx*asym_council
goodwill_nhs ~~ vy_A*goodwill_nhs
goodwill_council ~~ vy_B*goodwill_council
goodwill_nhs ~~ cy*goodwill_council
asym_nhs ~ mx_A*1
asym_council ~ mx_B*1
goodwill_nhs ~ iy_A*1
goodwill_council ~ iy_B*1
k_A := p_A/a_A
k_B := p_B/a_B
"
cons <- list(actors = "a_A == a_B", partners = "p_A == p_B", both = "a_A == a_B\np_A == p_B",
             omnibus = "a_A == a_B\np_A == p_B\nmx_A == mx_B\nvx_A == vx_B\niy_A == iy_B\nvy_A == vy_B")
apim_run <- function(data, estimator, missing) {
  f0 <- sem(apim_free, data = data, estimator = estimator, missing = missing, fixed.x = FALSE)
  pe <- parameterEstimates(f0); ss <- standardizedSolution(f0)
  pe$std.all <- ss$est.std
  pe <- pe[pe$label != "", ]
  tests <- list()
  for (t in names(cons)) {
    f1 <- sem(paste(apim_free, cons[[t]], sep = "\n"), data = data, estimator = estimator, missing = missing, fixed.x = FALSE)
    a <- lavTestLRT(f0, f1)
    tests[[t]] <- list(chisq_diff = a[2, "Chisq diff"], df_diff = a[2, "Df diff"], pvalue = a[2, "Pr(>Chisq)"],
                       fit = fitinfo(f1))
  }
  list(estimator = estimator, missing = missing, n = lavInspect(f0, "nobs"), fit = fitinfo(f0),
       est = lapply(seq_len(nrow(pe)), function(i) list(lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i],
            label = pe$label[i], est = pe$est[i], se = pe$se[i], pvalue = pe$pvalue[i],
            ci.lower = pe$ci.lower[i], ci.upper = pe$ci.upper[i], std.all = pe$std.all[i])),
       tests = tests)
}
apim_ref <- list(ml = apim_run(dm, "ML", "listwise"), mlr = apim_run(dm, "MLR", "listwise"),
                 fiml = apim_run(wide, "ML", "ml"))

out <- list(lavaan_version = as.character(packageVersion("lavaan")), psych_version = as.character(packageVersion("psych")),
            seed = 20261207, n_respondents = nrow(resp), n_partnerships = nrow(wide), n_complete = nrow(dm),
            icc = icc, rwg = rwg, rwg_scale_points = A, rsa = rsa_ref, apim = apim_ref)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "string"), "dyadic.json")
