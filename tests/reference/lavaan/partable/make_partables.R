# Reference parameter tables from lavaan for asymtrust.partable.build_partable().
#
# For every case below the model is fitted with sem()/cfa() and parTable(fit) is written
# (columns lhs, op, rhs, user, group, free, ustart, exo, label, plabel) together with npar,
# lavNames() of the model and the equivalent build_partable() arguments ("build_args").
# Output: partables.json next to this script.
# Run from anywhere: Rscript tests/reference/lavaan/partable/make_partables.R
#
# Data: hs1939.csv / poldem.csv from $ASYMTRUST_REF_DATA (default /work/shared/reference),
# else the repository's datasets/ copy; the sha256 of the file read is recorded.
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
  library(digest)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
OUT_DIR <- script_dir()
REPO_ROOT <- normalizePath(file.path(OUT_DIR, "..", "..", "..", ".."))

ref_data_path <- function(name) {
  base <- Sys.getenv("ASYMTRUST_REF_DATA", "/work/shared/reference")
  p <- file.path(base, name)
  if (file.exists(p)) return(p)
  p2 <- file.path(REPO_ROOT, "datasets", name)
  if (file.exists(p2)) return(p2)
  stop(sprintf("reference data %s not found", name))
}

hs_file <- ref_data_path("hs1939.csv")
pd_file <- ref_data_path("poldem.csv")
HS <- read.csv(hs_file)
PD <- read.csv(pd_file)
DATA <- list(hs1939 = list(data = HS, file = hs_file), poldem = list(data = PD, file = pd_file))

HS_MODEL <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

PD_MODEL <- "# measurement model
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
# regressions
dem60 ~ ind60
dem65 ~ ind60 + dem60
# residual correlations
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"

PD_EQ <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"

PD_DEFINED <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
# defined parameters and constraints
ind := a*b
total := c + ind
c == 0.5*b
a > 0"

HSX <- paste(HS_MODEL, "textual ~ visual + ageyr
speed ~ visual + sex
grade ~ visual", sep = "\n")

cases <- list(
  list(case = "hs_cfa", fun = "cfa", data = "hs1939", model = HS_MODEL, args = list()),
  list(case = "pd_sem", fun = "sem", data = "poldem", model = PD_MODEL, args = list()),
  list(case = "pd_eq", fun = "sem", data = "poldem", model = PD_EQ, args = list()),
  list(case = "pd_defined", fun = "sem", data = "poldem", model = PD_DEFINED, args = list()),
  list(case = "hsx", fun = "sem", data = "hs1939", model = HSX, args = list()),
  list(case = "hsx_meanstructure", fun = "sem", data = "hs1939", model = HSX,
       args = list(meanstructure = TRUE)),
  list(case = "hsx_fixedx_false", fun = "sem", data = "hs1939", model = HSX,
       args = list(fixed.x = FALSE)),
  list(case = "hs_stdlv", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(std.lv = TRUE)),
  list(case = "hs_second_order", fun = "cfa", data = "hs1939",
       model = paste(HS_MODEL, "g =~ visual + textual + speed", sep = "\n"), args = list()),
  list(case = "hs_means", fun = "cfa", data = "hs1939",
       model = paste(HS_MODEL, "x1 + x4 + x7 ~ 0*1\nvisual + textual + speed ~ 1", sep = "\n"),
       args = list()),
  list(case = "hs_missing_ml", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(missing = "ml")),
  list(case = "hs_modifiers", fun = "cfa", data = "hs1939",
       model = "visual =~ NA*x1 + x2 + start(0.8)*x3
visual ~~ 1*visual
textual =~ x4 + x5 +
           0.9?x6   ! a start value, lavaan's ? form
speed =~ x7 + 0.5*x8 + x9; x7 ~~ x8
x9 ~~ start(0.3)*x9", args = list()),
  list(case = "hs_single_indicator", fun = "sem", data = "hs1939",
       model = "visual =~ x1 + x2 + x3\ntextual =~ x4\nspeed =~ x7 + x8 + x9\nspeed ~ textual",
       args = list()),
  list(case = "hs_orphans", fun = "sem", data = "hs1939",
       model = "visual =~ x1 + x2 + x3\nx9 ~~ x1\nx8 ~ 1", args = list()),
  list(case = "hs_path", fun = "sem", data = "hs1939",
       model = "x4 ~ x1 + x2\nx5 ~ x1\nx6 ~ x4 + x5\nx7 ~ x1", args = list()),
  list(case = "mg_configural", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school")),
  list(case = "mg_metric", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school", group.equal = c("loadings"))),
  list(case = "mg_scalar", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school", group.equal = c("loadings", "intercepts"))),
  list(case = "mg_means", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school", group.equal = c("loadings", "intercepts", "means"))),
  list(case = "mg_partial", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school", group.equal = c("loadings", "intercepts", "residuals"),
                   group.partial = c("visual=~x2", "x7~1", "x3 ~~ x3"))),
  list(case = "mg_labels", fun = "cfa", data = "hs1939",
       model = "visual =~ x1 + c(l2a, l2b)*x2 + x3
textual =~ x4 + a*x5 + a*x6
speed =~ x7 + x8 + c(1, NA)*x9
x1 ~ c(i1, i1)*1", args = list(group = "school", group.equal = c("loadings"))),
  list(case = "mg_stdlv_metric", fun = "cfa", data = "hs1939", model = HS_MODEL,
       args = list(group = "school", group.equal = c("loadings"), std.lv = TRUE)),
  list(case = "mg_structural", fun = "sem", data = "hs1939",
       model = paste(HS_MODEL, "speed ~ visual + textual\nx1 ~~ x4", sep = "\n"),
       args = list(group = "school",
                   group.equal = c("loadings", "regressions", "lv.variances", "lv.covariances",
                                   "residual.covariances"))),
  list(case = "mg_lv_intercept", fun = "sem", data = "hs1939",
       model = "f =~ x1 + x2 + x3; f ~ 1; x1 ~ 0*1", args = list(group = "school")),
  list(case = "mg_residuals", fun = "sem", data = "hs1939",
       model = "f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6\nx1 ~~ x4",
       args = list(group = "school",
                   group.equal = c("residuals", "residual.covariances", "lv.variances"))),
  list(case = "mg_regressions", fun = "sem", data = "hs1939",
       model = "f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6\nh =~ x7 + x8 + x9\nh ~ f + g + ageyr\nx7 ~ sex",
       args = list(group = "school", group.equal = c("loadings", "regressions", "intercepts"))),
  list(case = "hs_random_covariates", fun = "sem", data = "hs1939",
       model = "f =~ x1 + x2 + x3\nx4 ~ f + sex\nx5 ~ f\nsex ~~ ageyr\nx5 ~ ageyr", args = list()),
  list(case = "hs_indicator_regressed", fun = "sem", data = "hs1939",
       model = "f =~ x1 + x2 + x3; x1 ~ x4", args = list()),
  list(case = "hs_mixed_fixedx_false", fun = "sem", data = "hs1939",
       model = "y =~ x1 + x2 + x3\nx4 ~ y\nx5 ~ y\nx6 ~ x4 + ageyr + sex\nx4 ~~ x5",
       args = list(meanstructure = TRUE, fixed.x = FALSE))
)

to_build_args <- function(args, data) {
  b <- list()
  if (!is.null(args$group)) {
    labs <- unique(as.character(data[[args$group]]))  # lavaan: order of first appearance
    b$ngroups <- length(labs)
    b$group_labels <- I(labs)
  }
  if (!is.null(args$group.equal)) b$group_equal <- I(args$group.equal)
  if (!is.null(args$group.partial)) b$group_partial <- I(args$group.partial)
  if (!is.null(args$std.lv)) b$std_lv <- args$std.lv
  if (!is.null(args$missing)) b$missing <- args$missing
  if (!is.null(args$meanstructure)) b$meanstructure <- args$meanstructure
  if (!is.null(args$fixed.x)) b$fixed_x <- args$fixed.x
  if (length(b) == 0L) b <- setNames(list(), character(0))
  b
}

vnames <- function(fit) {
  types <- c("ov", "lv", "ov.x", "ov.y", "lv.x", "lv.y", "ov.ind", "ov.nox")
  out <- lapply(types, function(t) I(lavNames(fit, type = t)))
  names(out) <- gsub(".", "_", types, fixed = TRUE)
  out
}

records <- list()
for (cs in cases) {
  d <- DATA[[cs$data]]
  # by name: cfa()/sem() use match.call()
  fit <- do.call(cs$fun, c(list(model = cs$model, data = quote(d$data)), cs$args))
  pt <- parTable(fit)
  pt <- pt[, c("id", "lhs", "op", "rhs", "user", "group", "free", "ustart", "exo", "label", "plabel",
               "est")]
  rec <- list(
    case = cs$case,
    model = cs$model,
    lavaan_call = c(list(`function` = cs$fun), cs$args),
    build_args = to_build_args(cs$args, d$data),
    data_name = basename(d$file),
    data_sha256 = digest(file = d$file, algo = "sha256"),
    observed = I(names(d$data)),
    npar = unname(fitMeasures(fit, "npar")),
    meanstructure = lavInspect(fit, "meanstructure"),
    converged = lavInspect(fit, "converged"),
    vnames = vnames(fit),
    partable = pt
  )
  records[[length(records) + 1L]] <- rec
  message(sprintf("%-20s rows=%3d npar=%d", cs$case, nrow(pt), rec$npar))
}

# R's own evaluation of expressions as used in ':=' and constraints (operator precedence,
# '^' and '**' as power, the whitelisted functions).
EXPR_ENV <- list(a = 0.7, b = 1.3, c = -0.4, .p2. = 2.5, a.1 = 0.25)
EXPRESSIONS <- c("a*b", "a^2^b", "-a^2", "a**2", "exp(a) - log(b)", "sqrt(b)/abs(c)", "pnorm(c)",
                 "(a + b)*c/2", "2*a - -c", "1e-2*a + .5*b", "a*b + c*.p2.", "a.1/a - b",
                 "pnorm(a*b/sqrt(a^2 + b^2))", "-(a - b)^3", "abs(c)^0.5 * exp(-c)")
expressions <- lapply(EXPRESSIONS, function(e)
  list(expr = e, value = eval(parse(text = e)[[1L]], envir = EXPR_ENV)))

out <- list(
  expression_env = EXPR_ENV,
  expressions = expressions,
  lavaan_version = as.character(packageVersion("lavaan")),
  R_version = R.version.string,
  generated_by = "tests/reference/lavaan/partable/make_partables.R",
  cases = records
)
path <- file.path(OUT_DIR, "partables.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                  dataframe = "rows", pretty = TRUE), path, useBytes = TRUE)
message("wrote ", path)
