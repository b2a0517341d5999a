// Standalone thresholds: PE accumulators per word in, PE codes out. Two stages: the word and its
// channels' threshold row (registered ROM read), then the compare into the output register.
module bnncc_thresh #(
    parameter C = 4, parameter PE = 1, parameter PIXELS = 1, parameter IN_BITS = 8, parameter IN_ENC = 1,
    parameter ACC_BITS = 9, parameter N_THR = 1, parameter OUT_BITS = 1, parameter OUT_ENC = 0,
    parameter OUT_MIN = 0, parameter T_FILE = "t.mem", parameter D_FILE = "d.mem",
    parameter T_STYLE = "auto", parameter D_STYLE = "auto") (
    input wire clk, input wire rst,
    input wire [PE*IN_BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam NF = C / PE;
    reg [$clog2(NF + 1)-1:0] nf;
    reg s1_valid, out_valid_r;
    reg [PE*IN_BITS-1:0] a_q;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    wire take = !stall && in_valid;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire [PE*N_THR*ACC_BITS-1:0] t_row;
    wire [PE-1:0] d_row;
    bnncc_rom #(.WIDTH(PE*N_THR*ACC_BITS), .DEPTH(NF), .FILE(T_FILE), .STYLE(T_STYLE))
        thresholds (.clk(clk), .en(take), .addr(nf), .data(t_row));
    bnncc_rom #(.WIDTH(PE), .DEPTH(NF), .FILE(D_FILE), .STYLE(D_STYLE))
        directions (.clk(clk), .en(take), .addr(nf), .data(d_row));
    wire [PE*OUT_BITS-1:0] activated;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            reg signed [ACC_BITS-1:0] a;
            reg [ACC_BITS:0] count;
            integer t;
            always @* begin
                if (IN_ENC == `BNNCC_ENC_SIGNED) a = $signed(a_q[p*IN_BITS +: IN_BITS]);
                else a = $signed({1'b0, a_q[p*IN_BITS +: IN_BITS]});
                count = 0;
                for (t = 0; t < N_THR; t = t + 1)
                    count = count + (d_row[p] ? (a <= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS]))
                                              : (a >= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS])));
            end
            assign activated[p*OUT_BITS +: OUT_BITS] = OUT_ENC == `BNNCC_ENC_BIPOLAR ? count[OUT_BITS-1:0]
                                                                                : count + OUT_MIN;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            s1_valid <= 0; out_valid_r <= 0; nf <= 0;
        end else if (!stall) begin
            s1_valid <= in_valid;
            if (in_valid) begin
                a_q <= in_data;
                nf <= (nf == NF - 1) ? 0 : nf + 1;
            end
            out_valid_r <= s1_valid;
            if (s1_valid) out_r <= activated;
        end
    end
endmodule
