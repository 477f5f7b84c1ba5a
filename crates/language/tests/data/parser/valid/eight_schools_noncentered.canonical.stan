data {
    int<lower=0> J;
    array[J] real y;
    array[J] real<lower=0> sigma;
}

parameters {
    real p1;
    real<lower=0> p2;
    vector[J] p3;
}

transformed parameters {
    vector[J] tp1 = p1 + p2 * p3;
}

model {
    p1 ~ normal(0, 5);
    p2 ~ cauchy(0, 5);
    p3 ~ std_normal();
    y ~ normal(tp1, sigma);
}

generated quantities {
    array[J] real gq1 = normal_rng(tp1, sigma);
    vector[J] log_lik;
    for (l1 in 1:J) log_lik[l1] = normal_lpdf(y[l1] | tp1[l1], sigma[l1]);
}
