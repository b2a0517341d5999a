// Channel concatenation: per pixel, A_WORDS words of in0, then B_WORDS of in1, one a cycle, stalling as a
// whole when its output register is full and not taken.
module bnncc_concat #(parameter PE = 1, parameter BITS = 1, parameter PIXELS = 1, parameter A_WORDS = 1,
                      parameter B_WORDS = 1) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in0_data, input wire in0_valid, output wire in0_ready,
    input wire [PE*BITS-1:0] in1_data, input wire in1_valid, output wire in1_ready,
    output wire [PE*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    reg [$clog2(A_WORDS + B_WORDS + 1)-1:0] w;
    reg out_valid_r;
    reg [PE*BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    wire second = w >= A_WORDS;
    wire in_valid = second ? in1_valid : in0_valid;
    assign in0_ready = !stall && !second;
    assign in1_ready = !stall && second;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    always @(posedge clk) begin
        if (rst) begin
            w <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid;
            if (in_valid) begin
                out_r <= second ? in1_data : in0_data;
                w <= (w == A_WORDS + B_WORDS - 1) ? 0 : w + 1;
            end
        end
    end
endmodule
