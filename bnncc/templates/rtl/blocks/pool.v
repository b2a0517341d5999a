// Pooling K x K, stride K, streaming: a running maximum (SUM = 0) or sum (SUM = 1) per output column of the
// current row.
module bnncc_pool #(
    parameter H = 4, parameter W = 4, parameter C = 1, parameter K = 2, parameter OH = 2, parameter OW = 2,
    parameter PE = 1, parameter BITS = 1, parameter ENC = 0, parameter SUM = 0, parameter OUT_BITS = 1,
    parameter OUT_ENC = 0) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam CF = C / PE;
    reg [PE*OUT_BITS-1:0] rows [0:OW*CF-1];
    reg [$clog2(CF + 1)-1:0] cf;
    reg [$clog2(W + 1)-1:0] x, kx, ox;
    reg [$clog2(H + 1)-1:0] y, ky;
    reg [$clog2(OW * CF + 1)-1:0] col;  // ox * CF, kept as a running sum
    reg out_valid_r;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire in_window = (y < OH * K) && (x < OW * K);
    wire first = ky == 0 && kx == 0;
    wire [PE*OUT_BITS-1:0] best = rows[col + cf];
    wire [PE*OUT_BITS-1:0] merged;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [BITS-1:0] v = in_data[p*BITS +: BITS];
            wire [OUT_BITS-1:0] b = best[p*OUT_BITS +: OUT_BITS];
            if (SUM) begin : add
                wire signed [OUT_BITS+1:0] sv = `BNNCC_ELEMENT(ENC, v);
                wire signed [OUT_BITS+1:0] sb = OUT_ENC == `BNNCC_ENC_SIGNED ? $signed(b) : $signed({1'b0, b});
                wire signed [OUT_BITS+1:0] s = first ? sv : sv + sb;
                assign merged[p*OUT_BITS +: OUT_BITS] = s[OUT_BITS-1:0];
            end else begin : max
                wire greater = ENC == `BNNCC_ENC_BIPOLAR ? (v[0] & ~b[0])
                             : (ENC == `BNNCC_ENC_SIGNED ? ($signed(v) > $signed(b)) : (v > b));
                assign merged[p*OUT_BITS +: OUT_BITS] = (first || greater) ? v : b;
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; x <= 0; y <= 0; kx <= 0; ky <= 0; ox <= 0; col <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && in_window && ky == K - 1 && kx == K - 1;
            if (in_valid) begin
                if (in_window) begin
                    rows[col + cf] <= merged;
                    out_r <= merged;
                end
                if (cf == CF - 1) begin
                    cf <= 0;
                    if (x == W - 1) begin
                        x <= 0; kx <= 0; ox <= 0; col <= 0;
                        y <= (y == H - 1) ? 0 : y + 1;
                        ky <= (y == H - 1 || ky == K - 1) ? 0 : ky + 1;
                    end else begin
                        x <= x + 1;
                        kx <= (kx == K - 1) ? 0 : kx + 1;
                        ox <= (kx == K - 1) ? ox + 1 : ox;
                        col <= (kx == K - 1) ? col + CF : col;
                    end
                end else cf <= cf + 1;
            end
        end
    end
endmodule
