// Label select: index of the largest of CLASSES values (ties to the lowest index).
module bnncc_labelselect #(
    parameter CLASSES = 10, parameter PE = 1, parameter BITS = 8, parameter ENC = 1, parameter OUT_BITS = 4) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam N = CLASSES / PE;
    reg [$clog2(N + 1)-1:0] i;
    reg signed [BITS+1:0] best;
    reg [OUT_BITS-1:0] best_index;
    reg out_valid_r;
    reg [OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    reg signed [BITS+1:0] b, v;
    reg [OUT_BITS-1:0] bi;
    integer p;
    always @* begin
        b = best;
        bi = best_index;
        for (p = 0; p < PE; p = p + 1) begin
            if (ENC == `BNNCC_ENC_SIGNED) v = $signed(in_data[p*BITS +: BITS]);
            else v = $signed({2'b0, in_data[p*BITS +: BITS]});
            if ((i == 0 && p == 0) || v > b) begin
                b = v;
                bi = i * PE + p;
            end
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            i <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && i == N - 1;
            if (in_valid) begin
                best <= b;
                best_index <= bi;
                if (i == N - 1) begin
                    i <= 0;
                    out_r <= bi;
                end else i <= i + 1;
            end
        end
    end
endmodule
