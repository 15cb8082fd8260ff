# lavaan 0.6-14 efa() with ordered = the first 10 bfi items (A1..C5), the other 15 continuous
# (lavaan_efa_bfi_mixed.json), and the theta parameterization (lavaan_efa_bfi_theta.json):
#   Rscript efa_mixed_cases.R   (run from this folder; writes both)
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")
source_lines <- readLines("efa_ordinal_cases.R")
bfi25 <- read.csv("../efa/bfi25.csv")
eval(parse(text = source_lines[grep("^solution <- function", source_lines):(grep("^for \\(nf in nfs\\)", source_lines) - 1)]))
cases <- list()
for (rot in c("geomin", "oblimin")) {
  set.seed(1)
  f <- efa(bfi25, nfactors = 2, rotation = rot, ordered = names(bfi25)[1:10], output = "lavaan")
  cases[[sprintf("bfi_mixed_%s_2", rot)]] <- c(list(data = "bfi", rotation = rot, estimator = "WLSMV",
                                                   ordered = names(bfi25)[1:10]), solution(f))
}
write_json(cases, "lavaan_efa_bfi_mixed.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)

# theta parameterization: efa() of A1..C5 (all ordered), 2 factors, geomin (lavaan_efa_bfi_theta.json)
set.seed(1)
f <- efa(bfi25[, 1:10], nfactors = 2, rotation = "geomin", ordered = TRUE, parameterization = "theta", output = "lavaan")
write_json(list(bfi10_theta_geomin_2 = c(list(data = "bfi[,1:10]", rotation = "geomin", estimator = "WLSMV",
                                              parameterization = "theta"), solution(f))),
           "lavaan_efa_bfi_theta.json", digits = NA, auto_unbox = TRUE)
