# Small reference cases for ordinal items (issue 15), lavaan 0.6-14, from bfi.csv:
#   small_binary.json   one factor, A1..A5 dichotomised (x >= 4), WLSMV: estimates, fit
#   small_3items.json   one factor, A1 + A2 + A3 (6 categories), WLSMV, df = 0: estimates
#   small_mixedk.json   lavCor of items with 2, 6 and 2 categories (b1, A1, z3, A2): th, cor
#   small_zero.json     the first stage of two binary items whose 2 x 2 table has one empty
#                       cell (zero.add = 0.5, zero.keep.margins) and a third: thresholds, cor
# The derived data are written to small_data.csv.
# Run: Rscript tests/reference/ordinal/small_cases.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- na.omit(read.csv(file.path(OUT, "bfi.csv"))[, c("A1", "A2", "A3", "A4", "A5")])
b <- as.data.frame(lapply(d, function(x) as.integer(x >= 4)))
names(b) <- paste0("b", 1:5)
z <- data.frame(z1 = as.integer(d$A2 >= 6), z3 = as.integer(d$A4 >= 4))
z$z2 <- ifelse(z$z1 == 1, 1L, as.integer(d$A3 >= 5))  # z1 = 1 -> z2 = 1: the cell (1, 0) is empty
z <- z[, c("z1", "z2", "z3")]
all <- cbind(d, b, z)
write.csv(all, file.path(OUT, "small_data.csv"), row.names = FALSE)
all <- read.csv(file.path(OUT, "small_data.csv"))
wj <- function(x, name) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
                                     file.path(OUT, name))
one <- function(model, items, file) {
  fit <- cfa(model, data = all, ordered = items)
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  wj(list(lavaan = as.character(packageVersion("lavaan")), model = model, ordered = items,
          estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se, std_all = pe$std.all),
          fit = as.list(setNames(as.numeric(fm), names(fm)))), file)
}
one("f =~ b1 + b2 + b3 + b4 + b5", paste0("b", 1:5), "small_binary.json")
one("f =~ A1 + A2 + A3", c("A1", "A2", "A3"), "small_3items.json")
print(table(all$z1, all$z2))
# lavaan's WLSMV first stage (zero.add = c(0.5, 0), zero.keep.margins = TRUE): nlminb from the
# Pearson start stops at the bound 0.999 for z1, z2 (a failed search: the log-likelihood of the
# adjusted table is larger inside); from init.theta = 0.9 the same lavaan function finds the
# maximum. Both are recorded.
f <- cfa("f =~ z1 + z2 + z3", data = all, ordered = c("z1", "z2", "z3"), do.fit = FALSE)
ss <- lavInspect(f, "sampstat")
u1 <- lavaan:::lav_uvord_fit(y = all$z1 + 1L); u2 <- lavaan:::lav_uvord_fit(y = all$z2 + 1L)
rho_max <- lavaan:::lav_bvord_cor_twostep_fit(fit.y1 = u1, fit.y2 = u2, zero.add = c(0.5, 0),
                                              zero.keep.margins = TRUE, init.theta = 0.9)
wj(list(lavaan = as.character(packageVersion("lavaan")), th = unname(as.numeric(ss$th)), th_names = names(ss$th),
        cor = unname(ss$cov), rho_z1_z2_from_0.9 = as.numeric(rho_max),
        table_z1_z2 = unname(matrix(as.integer(table(all$z1, all$z2)), 2, 2))), "small_zero.json")

mk <- c("b1", "A1", "z3", "A2")
cf <- lavCor(all[, mk], ordered = mk, output = "fit")
ss <- lavInspect(cf, "sampstat")
wj(list(lavaan = as.character(packageVersion("lavaan")), items = mk, th = unname(as.numeric(ss$th)),
        th_names = names(ss$th), cor = unname(ss$cov)), "small_mixedk.json")
