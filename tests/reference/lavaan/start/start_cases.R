# lavaan's starting values (parTable(fit)$start, start = "default") for the models whose
# fits the other case scripts check. asymtrust must start its optimiser from these
# values (issue 7: "starting values as lavaan chooses them"); tests/test_optimiser.py
# compares them with the vector asymtrust hands to its optimiser.
#   fig1_bcf        specs/fig1.lav on bcf_synthetic, reverse-keyed items recoded
#   fig1_bcf_fiml   the same with the 5% MCAR mask, missing = "ml" (starts from EM moments)
#   hs_cfa          3-factor CFA, HolzingerSwineford1939
#   hs_cfa4         a 4-indicator factor (instrumental-variable loading starts) and a
#                   2-indicator factor
#   hs_stdlv        hs_cfa4 with std.lv = TRUE (loadings scaled by the factor's psi)
#   hs_mg           the CFA by school (two groups, meanstructure)
#   hs_ms           the CFA with meanstructure = TRUE
#   hs_x            a regression of a factor on observed covariates (fixed.x)
#   pd_sem          PoliticalDemocracy, Bollen's SEM with residual covariances
# Writes start_cases.json next to this script. Run: Rscript tests/reference/lavaan/start/start_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "..", "_common.R"))
}
# _common.R places the repository three levels above the script; this one sits a level deeper
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", "..", ".."))

B <- bcf_fig1()
REVERSE <- BCF_REVERSE
bcf_file <- B$data_file
BCF <- B$data
BCFm <- B$masked
FIG1 <- B$model
items <- B$items
mask_csv <- list(index = B$mask_index)

hs_file <- ref_data_path("hs1939.csv")
HS <- read.csv(hs_file)
pd_file <- ref_data_path("poldem.csv")
PD <- read.csv(pd_file)

CFA <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
CFA4 <- "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8"
HSX <- paste(CFA, "visual ~ ageyr + grade", sep = "\n")
PDSEM <- paste("ind60 =~ x1 + x2 + x3", "dem60 =~ y1 + y2 + y3 + y4", "dem65 =~ y5 + y6 + y7 + y8",
               "dem60 ~ ind60", "dem65 ~ ind60 + dem60", "y1 ~~ y5", "y2 ~~ y4 + y6", "y3 ~~ y7",
               "y4 ~~ y8", "y6 ~~ y8", sep = "\n")

starts <- function(name, fit, model, data_file, args, extra = list()) {
  pt <- parTable(fit)
  keep <- pt$op %in% c("=~", "~", "~~", "~1")
  tab <- data.frame(lhs = pt$lhs[keep], op = pt$op[keep], rhs = pt$rhs[keep],
                    group = as.integer(pt$group[keep]), free = as.integer(pt$free[keep]),
                    start = pt$start[keep], stringsAsFactors = FALSE)
  c(list(case = name, model = model, data_name = basename(data_file),
         data_sha256 = file_sha256(data_file), fit_args = args, start = tab), extra)
}

prep <- list(recode_reverse = I(REVERSE))
cases <- list(
  starts("fig1_bcf", sem(FIG1, data = BCF), FIG1, bcf_file, list(), prep),
  starts("fig1_bcf_fiml", sem(FIG1, data = BCFm, missing = "ml"), FIG1, bcf_file,
         list(missing = "fiml"), c(prep, list(mask = list(columns = I(items),
                                                          indices = I(as.integer(mask_csv$index)))))),
  starts("hs_cfa", cfa(CFA, data = HS), CFA, hs_file, list()),
  starts("hs_cfa4", cfa(CFA4, data = HS), CFA4, hs_file, list()),
  starts("hs_stdlv", cfa(CFA4, data = HS, std.lv = TRUE), CFA4, hs_file, list(std_lv = TRUE)),
  starts("hs_mg", cfa(CFA, data = HS, group = "school"), CFA, hs_file, list(group = "school")),
  starts("hs_ms", cfa(CFA, data = HS, meanstructure = TRUE), CFA, hs_file, list(meanstructure = TRUE)),
  starts("hs_x", sem(HSX, data = HS), HSX, hs_file, list()),
  starts("pd_sem", sem(PDSEM, data = PD), PDSEM, pd_file, list())
)
out <- list(lavaan_version = as.character(packageVersion("lavaan")), R_version = R.version.string,
            generated_by = "tests/reference/lavaan/start/start_cases.R", cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(REF_DIR, "start_cases.json"))
cat("wrote", file.path(REF_DIR, "start_cases.json"), "\n")
