// Residual join: WA * a + WB * b per lane, one word of each input a cycle, stalling as a whole when its
// output register is full and not taken.
module bnncc_add #(
    parameter PE = 1, parameter WORDS = 1, parameter A_BITS = 4, parameter A_ENC = 2, parameter B_BITS = 4,
    parameter B_ENC = 2, parameter WA = 1, parameter WB = 1, parameter SUM_BITS = 6, parameter OUT_BITS = 5) (
    input wire clk, input wire rst,
    input wire [PE*A_BITS-1:0] in0_data, input wire in0_valid, output wire in0_ready,
    input wire [PE*B_BITS-1:0] in1_data, input wire in1_valid, output wire in1_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    reg out_valid_r;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    wire both = in0_valid && in1_valid;
    assign in0_ready = !stall && both;
    assign in1_ready = !stall && both;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire [PE*OUT_BITS-1:0] sum;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [A_BITS-1:0] ca = in0_data[p*A_BITS +: A_BITS];
            wire [B_BITS-1:0] cb = in1_data[p*B_BITS +: B_BITS];
            wire signed [SUM_BITS-1:0] a = `BNNCC_ELEMENT(A_ENC, ca);
            wire signed [SUM_BITS-1:0] b = `BNNCC_ELEMENT(B_ENC, cb);
            wire signed [SUM_BITS-1:0] s = WA * a + WB * b;
            assign sum[p*OUT_BITS +: OUT_BITS] = s[OUT_BITS-1:0];
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) out_valid_r <= 0;
        else if (!stall) begin
            out_valid_r <= both;
            if (both) out_r <= sum;
        end
    end
endmodule
