data {
    int<lower=1> N;
    array[N] real x;
    vector[N] y;
}

transformed data {
    real td1 = 1e-9;
}

parameters {
    real<lower=0> p1;
    real<lower=0> p2;
    real<lower=0> p3;
}

model {
    matrix[N, N] l1 = gp_exp_quad_cov(x, p2, p1);
    matrix[N, N] l4;
    real l3 = square(p3);
    for (l2 in 1:N) {
        l1[l2, l2] = l1[l2, l2] + l3 + td1;
    }
    l4 = cholesky_decompose(l1);
    p1 ~ inv_gamma(5, 5);
    p2 ~ std_normal();
    p3 ~ std_normal();
    y ~ multi_normal_cholesky(rep_vector(0, N), l4);
}
