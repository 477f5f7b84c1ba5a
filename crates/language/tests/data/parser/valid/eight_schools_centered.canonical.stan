data {
    int<lower=0> J;
    array[J] real y;
    array[J] real<lower=0> sigma;
}

parameters {
    array[J] real p3;
    real p1;
    real<lower=0> p2;
}

model {
    p1 ~ normal(0, 5);
    p2 ~ cauchy(0, 5);
    p3 ~ normal(p1, p2);
    y ~ normal(p3, sigma);
}
